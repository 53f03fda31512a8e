"""The Metadata API's file-based deploy, what ``sf project deploy start`` calls:
SOAP ``deploy`` and ``checkDeployStatus`` (and ``cancelDeploy``) on
``/services/Soap/m/{version}``, for Apex classes.

What the CLI sends (``@salesforce/source-deploy-retrieve`` ``MetadataApiDeploy`` through
``@jsforce/jsforce-node`` ``lib/api/metadata.js``): a SOAP envelope in the
``http://soap.sforce.com/2006/04/metadata`` namespace with the session in
``SessionHeader/sessionId`` and ``<deploy><ZipFile>base64</ZipFile><DeployOptions>...``;
then ``<checkDeployStatus><asyncProcessId>ID</asyncProcessId><includeDetails>true``
every second until ``done`` is true. jsforce finds the answer as ``*:Envelope`` /
``*:Body`` / any element / ``result`` and casts it with its DeployResult schema, so the
field names below are the contract.

Sources: *Metadata API Developer Guide*, "deploy()" (returns an AsyncResult whose ``id``
``checkDeployStatus`` polls; the limits: at most 10,000 files and 600 MB = 629,145,600
bytes uncompressed,
https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_deploy.htm),
"checkDeployStatus()" (call it until ``done``; ``includeDetails`` adds DeployDetails,
https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_checkdeploystatus.htm),
"DeployResult" (``status`` Pending / InProgress / Succeeded / Failed / Canceled,
``numberComponents*``, ``details``,
https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_deployresult.htm)
and DeployMessage (``componentType``, ``fullName``, ``fileName``, ``created``, ``changed``,
``problem``, ``problemType``, ``lineNumber``, ``columnNumber``; *Apex Reference Guide*,
"DeployMessage Class",
https://developer.salesforce.com/docs/atlas.en-us.apexref.meta/apexref/apex_class_Metadata_DeployMessage.htm).
"Working with the Zip File" (a ``package.xml`` manifest plus folders such as
``classes/Name.cls`` with ``classes/Name.cls-meta.xml``).

Modelled: the classes in the zip compile together through
:func:`sforg_sim.apexlang.deploy`, all or none (``rollbackOnError``: a compile error
fails the whole deploy and installs nothing, as on the platform), each failure a
componentFailure with the compiler's problem, line and column. The deploy runs inside the
``deploy`` call, so the first ``checkDeployStatus`` already answers ``done``.

Not modelled (answered as a failed deploy that says so, never as a success):
``checkOnly`` (validation) deploys, and metadata types other than ApexClass. Tests named
in ``runTests`` are not run (the simulator has no test runner); ``testLevel`` is echoed.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import zipfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import SalesforceError
from .messages import Call, Response
from .soap import SoapFault, SoapRequest, fault, nil, soap_response

__all__ = ["DeployRecord", "metadata_soap"]

META_NS = "http://soap.sforce.com/2006/04/metadata"

# Metadata API Developer Guide, "deploy()": the deploy limits.
MAX_FILES = 10_000
MAX_UNCOMPRESSED = 600 * 1024 * 1024

_IDS = itertools.count(1)


@dataclass
class Message:
    """One DeployMessage (a component's success or failure)."""

    component_type: str
    full_name: str
    file_name: str
    success: bool
    created: bool = False
    changed: bool = False
    problem: str | None = None
    line: int | None = None
    column: int | None = None
    id: str | None = None

    def xml(self, stamp: str) -> str:
        """The DeployMessage's elements, in the WSDL's (alphabetical) order."""
        return "".join((
            nil("changed", self.changed), nil("columnNumber", self.column),
            nil("componentType", self.component_type), nil("created", self.created),
            nil("createdDate", stamp), nil("deleted", False),
            nil("fileName", self.file_name), nil("fullName", self.full_name),
            nil("id", self.id), nil("lineNumber", self.line),
            nil("problem", self.problem),
            nil("problemType", None if self.success else "Error"),
            nil("success", self.success)))


@dataclass
class DeployRecord:
    """One deploy request as ``checkDeployStatus`` reports it."""

    id: str
    created: str
    user_id: str
    username: str
    successes: list[Message] = field(default_factory=list)
    failures: list[Message] = field(default_factory=list)
    error_message: str | None = None
    check_only: bool = False
    ignore_warnings: bool = False
    rollback_on_error: bool = True

    @property
    def success(self) -> bool:
        """True when every component deployed."""
        return not self.failures and self.error_message is None

    def xml(self, include_details: bool) -> str:
        """The DeployResult's elements."""
        # package.xml is reported among the successes but is not a component.
        deployed = sum(1 for m in self.successes if m.component_type)
        total = deployed + len(self.failures)
        details = ""
        if include_details:
            details = ("<details>"
                       + "".join(f"<componentFailures>{m.xml(self.created)}"
                                 "</componentFailures>" for m in self.failures)
                       + "".join(f"<componentSuccesses>{m.xml(self.created)}"
                                 "</componentSuccesses>" for m in self.successes)
                       + "</details>")
        return "".join((
            nil("checkOnly", self.check_only), nil("completedDate", self.created),
            nil("createdBy", self.user_id[:15]), nil("createdByName", self.username),
            nil("createdDate", self.created), details, nil("done", True),
            nil("errorMessage", self.error_message), nil("id", self.id),
            nil("ignoreWarnings", self.ignore_warnings),
            nil("lastModifiedDate", self.created),
            nil("numberComponentErrors", len(self.failures)),
            nil("numberComponentsDeployed", 0 if self.failures else deployed),
            nil("numberComponentsTotal", total), nil("numberTestErrors", 0),
            nil("numberTestsCompleted", 0), nil("numberTestsTotal", 0),
            nil("rollbackOnError", self.rollback_on_error), nil("runTestsEnabled", False),
            nil("startDate", self.created),
            nil("status", "Succeeded" if self.success else "Failed"),
            nil("success", self.success)))


class _Deploys:
    """The org's deploy requests by id (kept with ``org.attached``)."""

    def __init__(self) -> None:
        self.by_id: dict[str, DeployRecord] = {}


def _deploys(org: Any) -> _Deploys:
    return org.attached(_Deploys, _Deploys)


def _new_id() -> str:
    """A DeployRequest id (key prefix 0Af, as the ids ``sf`` prints for deploys)."""
    from ..ids import make_id

    return make_id("0Af", next(_IDS))


def _flag(req: SoapRequest, name: str, default: bool) -> bool:
    text = req.text(name)
    return default if text is None or text == "" else text.strip().lower() == "true"


def metadata_soap(call: Call) -> Response:
    """``POST /services/Soap/m/{version}[/{orgId}]``: dispatch on the SOAP operation."""
    try:
        req = SoapRequest(call, META_NS)
        ops = {"deploy": _deploy, "checkDeployStatus": _check, "cancelDeploy": _cancel}
        op = ops.get(req.name)
        if op is None:
            return fault("INVALID_OPERATION", f"No operation available for request "
                                              f"{{{META_NS}}}{req.name}", META_NS)
        user_id = req.authenticate()
        return op(call, req, user_id)
    except SoapFault as f:
        return f.response


def _deploy(call: Call, req: SoapRequest, user_id: str) -> Response:
    """``deploy``: unzip, compile and install the classes, answer the AsyncResult."""
    from ..rest.auth import sessions

    org = call.org
    rec = DeployRecord(_new_id(), org.clock.stamp(), user_id, sessions(org).username,
                       check_only=_flag(req, "checkOnly", False),
                       ignore_warnings=_flag(req, "ignoreWarnings", False),
                       rollback_on_error=_flag(req, "rollbackOnError", True))
    raw = req.text("ZipFile")
    if not raw:
        return fault("INVALID_REQUEST", "deploy needs a <ZipFile> element", META_NS)
    try:
        data = base64.b64decode(raw, validate=False)
        files = _unzip(data)
    except (binascii.Error, zipfile.BadZipFile, ValueError) as e:
        rec.error_message = f"The deploy .zip file could not be read: {e}"
        files = {}
    if rec.error_message is None:
        _install(org, rec, files)
    _deploys(org).by_id[rec.id] = rec
    # The AsyncResult: Salesforce queues the deploy; the simulator has already run it,
    # and the first checkDeployStatus says done.
    return soap_response(
        "<deployResponse><result>" + nil("done", False) + nil("id", rec.id)
        + nil("state", "Queued") + "</result></deployResponse>", ns=META_NS)


def _unzip(data: bytes) -> dict[str, bytes]:
    """The zip's files by path (without a leading ``unpackaged/``-style root folder),
    within the documented file-count and uncompressed-size limits."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_FILES:
            raise ValueError(f"{len(infos)} files, more than the limit of {MAX_FILES}")
        size = sum(i.file_size for i in infos)
        if size > MAX_UNCOMPRESSED:
            raise ValueError(f"{size} bytes uncompressed, more than the limit of "
                             f"{MAX_UNCOMPRESSED}")
        return {i.filename: zf.read(i) for i in infos}


def _install(org: Any, rec: DeployRecord, files: dict[str, bytes]) -> None:
    """Compile the zip's classes together (all or none) and record the messages."""
    from ..apexlang import deploy as apex_deploy
    from ..apexlang import runtime_for

    classes: dict[str, tuple[str, str]] = {}  # name -> (fileName, source)
    for path, content in sorted(files.items()):
        base = path.rsplit("/", 1)[-1]
        if base == "package.xml" or path.endswith("-meta.xml"):
            continue
        folder = path.rsplit("/", 2)[-2] if path.count("/") else ""
        if folder == "classes" and base.endswith(".cls"):
            try:
                classes[base[:-4]] = (path, content.decode("utf-8"))
            except UnicodeDecodeError:
                rec.failures.append(Message("ApexClass", base[:-4], path, False,
                                            problem="The file is not UTF-8 text"))
            continue
        rec.failures.append(Message(
            "", base, path, False,
            problem=f"sforg-sim deploys Apex classes only (classes/*.cls); {path} is "
                    "not simulated"))
    if rec.check_only:
        rec.error_message = ("sforg-sim does not simulate check-only (validation) "
                             "deploys; deploy without --dry-run")
        return
    if rec.failures:
        return
    existing = set(runtime_for(org).infos)
    by_label = {name: name for name in classes}
    results = apex_deploy(org, {name: src for name, (_, src) in classes.items()})
    for r in results:
        name = by_label.get(r.file or r.name, r.name)
        path = classes.get(name, (f"classes/{name}.cls", ""))[0]
        if r.success:
            new = name.lower() not in existing
            rec.successes.append(Message("ApexClass", name, path, True, created=new,
                                         changed=not new, id=_class_id(org, name)))
        else:
            rec.failures.append(Message("ApexClass", name, path, False, problem=r.problem,
                                        line=r.line, column=r.column))
    if rec.successes and not rec.failures:
        rec.successes.append(Message("", "package.xml", "package.xml", True,
                                     changed=True))


def _class_id(org: Any, name: str) -> str | None:
    """The ApexClass record's id when the org has one for ``name``."""
    try:
        rows = org.query(f"SELECT Id FROM ApexClass WHERE Name = '{name}' LIMIT 1")
    except SalesforceError:
        return None
    recs = rows.get("records") or []
    return str(recs[0]["Id"]) if recs else None


def _record(call: Call, req: SoapRequest, element: str) -> DeployRecord:
    ident = (req.text(element) or "").strip()
    rec = _deploys(call.org).by_id.get(ident)
    if rec is None:
        from ..ids import to18

        try:
            rec = _deploys(call.org).by_id.get(to18(ident))
        except ValueError:
            rec = None
    if rec is None:
        raise SoapFault(fault("INVALID_ID_FIELD", f"Invalid id: {ident or '(empty)'}",
                              META_NS))
    return rec


def _check(call: Call, req: SoapRequest, _user: str) -> Response:
    """``checkDeployStatus``: the DeployResult, with DeployDetails when asked."""
    rec = _record(call, req, "asyncProcessId")
    return soap_response("<checkDeployStatusResponse><result>"
                         + rec.xml(_flag(req, "includeDetails", False))
                         + "</result></checkDeployStatusResponse>", ns=META_NS)


def _cancel(call: Call, req: SoapRequest, _user: str) -> Response:
    """``cancelDeploy``: every simulated deploy is already done, so there is nothing to
    cancel; answer the CancelDeployResult of a finished deploy."""
    rec = _record(call, req, "id")
    return soap_response("<cancelDeployResponse><result>" + nil("done", True)
                         + nil("id", rec.id) + "</result></cancelDeployResponse>",
                         ns=META_NS)
