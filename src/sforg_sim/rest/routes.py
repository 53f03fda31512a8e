"""THE route table: method + path pattern -> handler. Both adapters use it and nothing else.

Patterns are written like the REST guide writes URIs: ``{name}`` captures one path segment
(percent-decoded before the handler sees it), ``{name*}`` captures any prefix (the SOAP and
OAuth login routes accept ``https://localhost:PORT/x/services/Soap/u/59.0``, the trick
simple-salesforce needs to log in against a local server, research §8), and ``{version}``
captures ``NN.N``. A trailing slash is ignored: simple-salesforce asks for ``query/``,
``limits/`` and ``sobjects/X/`` (research §9.5).

Resolution: the first route whose pattern matches and which allows the method wins. A path
some route matches but no route allows the method for is 405 with the real message, naming
the methods of the first matching route (``HEAD,GET,...``, as in the real
"HTTP Method 'POST' not allowed. Allowed are HEAD,GET,PATCH,DELETE"; salesforce.stackexchange
question 13294). A path no route matches is 404 NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from . import auth, bulk1, bulk2, composite, limits, metadata, night, query, soap, sobjects
from .messages import Call, Response
from .search import parameterized_get, parameterized_post
from .search import search as sosl_search

__all__ = ["ROUTES", "Route", "is_simulated", "resolve"]

Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    """One resource: its pattern and a handler per HTTP method.

    ``counted``: charged to the API allocation and answered with ``Sforce-Limit-Info``.
    ``auth``: needs ``Authorization: Bearer <session>``.
    """

    pattern: str
    methods: dict[str, Handler]
    counted: bool = True
    auth: bool = True
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.pattern))

    def allowed(self) -> str:
        """The ``Allowed are ...`` list: HEAD first when GET is allowed, as Salesforce does."""
        names: list[str] = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                            if m in self.methods]
        return ",".join((["HEAD"] if "GET" in names else []) + names)


def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\{[a-z_]+\*?\})", pattern):
        if not part.startswith("{"):
            out.append(re.escape(part))
        elif part.endswith("*}"):
            out.append(f"(?P<{part[1:-2]}>.*)")
        elif part == "{version}":
            out.append(r"(?P<version>[0-9]+\.[0-9]+)")
        else:
            out.append(f"(?P<{part[1:-1]}>[^/]+)")
    return re.compile("".join(out) + "$")


V = "/services/data/v{version}"
A = "/services/async/{version}"
"""Bulk API 1.0: the version has no ``v`` (``/services/async/59.0/job``)."""

ROUTES: tuple[Route, ...] = (
    # --- uncounted: versions and logins ---------------------------------------------------
    Route("/services/data", {"GET": limits.versions}, counted=False, auth=False),
    Route("{prefix*}/services/Soap/u/{version}", {"POST": auth.soap_login},
          counted=False, auth=False),
    Route("{prefix*}/services/Soap/u/{version}/{org_id}", {"POST": auth.soap_login},
          counted=False, auth=False),
    Route("{prefix*}/services/oauth2/token", {"POST": auth.oauth_token},
          counted=False, auth=False),
    # Revocation: the token in the form body or query is the credential (auth.revoke).
    Route("{prefix*}/services/oauth2/revoke", {"GET": auth.revoke, "POST": auth.revoke},
          counted=False, auth=False),
    # SOAP calls authenticate from their SessionHeader and charge themselves (soap.py).
    Route("/services/Soap/s/{version}", {"POST": soap.execute_anonymous},
          counted=False, auth=False),
    Route("/services/Soap/s/{version}/{org_id}", {"POST": soap.execute_anonymous},
          counted=False, auth=False),
    # The Metadata API (deploy, checkDeployStatus: metadata.py), same SOAP conventions.
    Route("/services/Soap/m/{version}", {"POST": metadata.metadata_soap},
          counted=False, auth=False),
    Route("/services/Soap/m/{version}/{org_id}", {"POST": metadata.metadata_soap},
          counted=False, auth=False),
    Route("/services/oauth2/userinfo", {"GET": auth.userinfo, "POST": auth.userinfo},
          counted=False),
    # The simulator's own admin endpoint (night.py): not Salesforce, not charged.
    Route("/sforg-sim/clock", {"GET": night.clock_endpoint, "POST": night.clock_endpoint},
          counted=False),
    # --- REST -----------------------------------------------------------------------------
    Route(V, {"GET": limits.resources}),
    Route(f"{V}/limits", {"GET": limits.limits}),
    Route(f"{V}/sobjects", {"GET": sobjects.describe_global}),
    Route(f"{V}/sobjects/{{sobject}}", {"GET": sobjects.basic_info, "POST": sobjects.create}),
    Route(f"{V}/sobjects/{{sobject}}/describe", {"GET": sobjects.describe}),
    # Before the External ID route, which would take "describe/layouts" as field/value.
    Route(f"{V}/sobjects/{{sobject}}/describe/layouts", {"GET": sobjects.describe_layouts}),
    Route(f"{V}/sobjects/{{sobject}}/describe/layouts/{{record_type}}", {
        "GET": sobjects.describe_layout}),
    Route(f"{V}/sobjects/{{sobject}}/describe/compactLayouts", {
        "GET": sobjects.describe_compact_layouts}),
    Route(f"{V}/sobjects/{{sobject}}/describe/compactLayouts/{{name}}", {
        "GET": sobjects.describe_compact_layout}),
    Route(f"{V}/sobjects/{{sobject}}/updated", {"GET": sobjects.updated}),
    Route(f"{V}/sobjects/{{sobject}}/deleted", {"GET": sobjects.deleted}),
    Route(f"{V}/sobjects/{{sobject}}/{{record_id}}", {
        "GET": sobjects.get, "PATCH": sobjects.update, "DELETE": sobjects.delete}),
    Route(f"{V}/sobjects/{{sobject}}/{{field}}/{{value}}", {
        "GET": sobjects.get_by_external_id, "PATCH": sobjects.upsert_by_external_id,
        "DELETE": sobjects.delete_by_external_id}),
    Route(f"{V}/query", {"GET": query.query}),
    Route(f"{V}/query/{{locator}}", {"GET": query.query_more}),
    Route(f"{V}/queryAll", {"GET": query.query_all}),
    Route(f"{V}/queryAll/{{locator}}", {"GET": query.query_more}),
    Route(f"{V}/tooling/query", {"GET": query.tooling_query}),
    Route(f"{V}/search", {"GET": sosl_search}),
    Route(f"{V}/parameterizedSearch", {"GET": parameterized_get, "POST": parameterized_post}),
    Route(f"{V}/composite", {"POST": composite.composite}),
    Route(f"{V}/composite/sobjects", {
        "POST": composite.collection_create, "PATCH": composite.collection_update,
        "DELETE": composite.collection_delete}),
    Route(f"{V}/composite/sobjects/{{sobject}}", {
        "GET": composite.collection_retrieve, "POST": composite.collection_retrieve}),
    Route(f"{V}/composite/sobjects/{{sobject}}/{{field}}", {
        "PATCH": composite.collection_upsert}),
    Route(f"{V}/jobs/ingest", {"POST": bulk2.create_ingest, "GET": bulk2.list_ingest}),
    Route(f"{V}/jobs/ingest/{{job_id}}", {
        "GET": bulk2.get_ingest, "PATCH": bulk2.patch_ingest, "DELETE": bulk2.delete_ingest}),
    Route(f"{V}/jobs/ingest/{{job_id}}/batches", {"PUT": bulk2.upload}),
    Route(f"{V}/jobs/ingest/{{job_id}}/{{kind}}", {"GET": bulk2.ingest_results}),
    Route(f"{V}/jobs/query", {"POST": bulk2.create_query, "GET": bulk2.list_query}),
    Route(f"{V}/jobs/query/{{job_id}}", {
        "GET": bulk2.get_query, "PATCH": bulk2.patch_query, "DELETE": bulk2.delete_query}),
    Route(f"{V}/jobs/query/{{job_id}}/results", {"GET": bulk2.query_results}),
    # --- Bulk API 1.0 (bulk1.py): X-SFDC-Session, charged and answered by the handlers ----
    Route(f"{A}/job", {"POST": bulk1.create_job}, counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}", {"GET": bulk1.get_job, "POST": bulk1.update_job},
          counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}/batch", {"GET": bulk1.list_batches, "POST": bulk1.add_batch},
          counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}/batch/{{batch_id}}", {"GET": bulk1.batch_info},
          counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}/batch/{{batch_id}}/request", {"GET": bulk1.batch_request},
          counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}/batch/{{batch_id}}/result", {"GET": bulk1.batch_result},
          counted=False, auth=False),
    Route(f"{A}/job/{{job_id}}/batch/{{batch_id}}/result/{{result_id}}", {
        "GET": bulk1.query_result}, counted=False, auth=False),
    Route("/services/async/{tail*}", {m: bulk1.unknown for m in
                                      ("GET", "POST", "PUT", "PATCH", "DELETE")},
          counted=False, auth=False),
)

_SIMULATED = re.compile(
    r"^/services/data(/|$)|/services/Soap/[usm]/|/services/oauth2/|^/services/async/")


def is_simulated(path: str) -> bool:
    """True for paths in the simulated surface (REST data API, SOAP login, Apex
    executeAnonymous and Metadata deploy, OAuth, Bulk API 1.0 under ``/services/async/``).

    Other Salesforce paths (Apex REST, Lightning pages) are
    not simulated: ``mock_org`` raises a clear error for them instead of a made-up answer.
    """
    return bool(_SIMULATED.search(path))


@dataclass
class Resolution:
    """The outcome of matching: a route and params, or the 405 allow list, or nothing."""

    route: Route | None = None
    handler: Handler | None = None
    params: dict[str, str] = field(default_factory=dict)
    allowed: str | None = None


def resolve(method: str, path: str) -> Resolution:
    """Match ``method`` and a raw path against :data:`ROUTES`."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    first: Route | None = None
    lookup = "GET" if method == "HEAD" else method
    for route in ROUTES:
        m = route.regex.match(path)
        if m is None:
            continue
        first = first or route
        handler = route.methods.get(lookup)
        if handler is not None:
            params = {k: unquote(v) for k, v in m.groupdict().items() if k != "prefix"}
            if "value" in params:
                params["value_raw"] = m.group("value")
            return Resolution(route, handler, params)
    if first is not None:
        return Resolution(route=first, allowed=first.allowed())
    return Resolution()
