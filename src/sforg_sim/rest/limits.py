"""Versions, the resource directory and ``/limits``.

``GET /services/data/`` lists the API versions the simulator accepts: v50.0 (Winter '21)
to :data:`MAX_VERSION`. It is not charged and carries no ``Sforce-Limit-Info`` (REST
guide, "API usage" headers). Deviation: real orgs list older versions too (back to v31.0);
the simulator refuses anything below v50.0 with 404 NOT_FOUND, as real orgs do for
versions they do not serve.
"""

from __future__ import annotations

from .messages import Call, Response, json_response

__all__ = ["MAX_VERSION", "MIN_VERSION", "limits", "resources", "supported", "versions"]

MIN_VERSION = 50
MAX_VERSION = 64
"""v64.0 is Summer '25; later versions answer 404 like a real org not yet upgraded."""

_SEASONS = ("Winter", "Spring", "Summer")


def supported(version: str) -> bool:
    """True for ``50.0`` .. ``64.0`` (major versions only, as real orgs publish)."""
    major, _, minor = version.partition(".")
    return major.isdigit() and minor == "0" and MIN_VERSION <= int(major) <= MAX_VERSION


def versions(call: Call) -> Response:
    """``GET /services/data/``: label, url and version of each accepted version."""
    out = []
    for v in range(MIN_VERSION, MAX_VERSION + 1):
        i = v - MIN_VERSION  # v50.0 is Winter '21; three releases a year
        label = f"{_SEASONS[i % 3]} '{21 + i // 3}"
        out.append({"label": label, "url": f"/services/data/v{v}.0", "version": f"{v}.0"})
    return json_response(200, out)


def resources(call: Call) -> Response:
    """``GET /services/data/vXX.X``: the resources available in this version."""
    names = ("composite", "jobs", "limits", "query", "queryAll", "sobjects", "tooling")
    return json_response(200, {n: f"{call.base}/{n}" for n in names})


def limits(call: Call) -> Response:
    """``GET /services/data/vXX.X/limits``: the org's limits, counting this request."""
    return json_response(200, call.org.limits())
