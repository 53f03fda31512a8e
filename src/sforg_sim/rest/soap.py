"""The Apex SOAP API: ``executeAnonymous`` on ``/services/Soap/s/{version}[/{orgId}]``,
what ``sf apex run`` calls, plus the SOAP plumbing the Metadata API reuses.

What the CLI sends (``@salesforce/apex-node``, ``lib/src/execute/utils.js`` ``encodeBody``
and ``executeService.js``): a ``POST`` of ``text/xml`` with ``SOAPAction:
executeAnonymous``, the session in ``<SessionHeader><sessionId>``, a ``DebuggingHeader``
(``<debugLevel>DEBUGONLY</debugLevel>`` or per-category levels) and
``<executeAnonymous><apexcode>...</apexcode></executeAnonymous>``. What it reads: the
``soapenv:Envelope`` / ``soapenv:Header`` / ``DebuggingInfo`` / ``debugLog`` text and
``soapenv:Body`` / ``executeAnonymousResponse`` / ``result`` with ``compiled``,
``success``, ``line``, ``column``, ``compileProblem``, ``exceptionMessage``,
``exceptionStackTrace`` (an ``xsi:nil`` element stands for "none"). The prefix must be
literally ``soapenv``: the CLI looks the keys up by qualified name.

Sources: *Apex Developer Guide*, "executeAnonymous()" (ExecuteAnonymousResult fields:
compiled, compileProblem, exceptionMessage, exceptionStackTrace, line, column, success;
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_api_calls_executeanonymous.htm)
and "DebuggingHeader" / "DebuggingInfo" (the debug log returned in the response header,
https://developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/sforce_api_header_debuggingheader.htm).
The log's framing (``58.0 APEX_CODE,DEBUG;APEX_PROFILING,INFO``, ``Execute Anonymous:``
echo lines, ``USER_INFO``, ``EXECUTION_STARTED``, ``CODE_UNIT_STARTED|[EXTERNAL]|
execute_anonymous_apex`` ... ``EXECUTION_FINISHED``) follows the sample output of *Salesforce
DX Developer Guide*, "Execute Anonymous Apex"
(https://developer.salesforce.com/docs/atlas.en-us.sfdx_dev.meta/sfdx_dev/sfdx_dev_develop_apex_run_anon.htm).
Deviations: the log has no ``CUMULATIVE_LIMIT_USAGE`` block and its nanosecond counters
are zero (the simulated clock does not advance inside a transaction); the debug level
asked for is echoed in the header line but does not filter lines (the runtime logs
``USER_DEBUG`` only).

Sessions: the ``SessionHeader`` names the session (the ``Authorization`` header is read
when it is absent); a bad one is the real ``INVALID_SESSION_ID`` fault (HTTP 500, which the
CLI answers by refreshing its token). A SOAP call is charged as one API request, like a
REST one (*Salesforce Developer Limits and Allocations Quick Reference*, "API Request
Limits and Allocations": the allocation counts SOAP and REST calls alike).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from ..errors import SalesforceError
from .auth import sessions
from .messages import Call, Response

__all__ = ["SoapFault", "SoapRequest", "execute_anonymous", "fault", "nil", "soap_response"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
APEX_NS = "http://soap.sforce.com/2006/08/apex"
XML_TYPE = "text/xml;charset=UTF-8"


def local(tag: object) -> str:
    """An element's name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def fault(code: str, message: str, ns: str = APEX_NS, status: int = 500) -> Response:
    """A SOAP fault as Salesforce answers it: ``<faultcode>sf:CODE</faultcode>`` and
    ``<faultstring>CODE: message</faultstring>``, HTTP 500."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:sf="{ns}">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(status, body.encode("utf-8"), {"Content-Type": XML_TYPE})


def nil(name: str, value: object) -> str:
    """``<name>value</name>``, or ``<name xsi:nil="true"/>`` for None (SOAP's null)."""
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def soap_response(body: str, header: str = "", ns: str = APEX_NS) -> Response:
    """A 200 SOAP envelope with the ``soapenv`` prefix the CLI reads by name."""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns="{ns}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        + (f"<soapenv:Header>{header}</soapenv:Header>" if header else "")
        + f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>")
    return Response(200, text.encode("utf-8"), {"Content-Type": XML_TYPE})


class SoapRequest:
    """A parsed SOAP request: the operation element, the header elements and the session.

    Raises :class:`SoapFault` (carried as a ready Response) for a body that is not a SOAP
    envelope, as Salesforce answers such a request with a fault, never a traceback.
    """

    def __init__(self, call: Call, ns: str = APEX_NS) -> None:
        self.call = call
        self.ns = ns
        try:
            root = ET.fromstring(call.request.body or b"")
        except ET.ParseError as e:
            raise SoapFault(fault("INVALID_REQUEST", f"Unable to parse SOAP request: {e}",
                                  ns)) from None
        body = next((el for el in root if local(el.tag) == "Body"), None)
        header = next((el for el in root if local(el.tag) == "Header"), None)
        if local(root.tag) != "Envelope" or body is None or len(body) == 0:
            raise SoapFault(fault("INVALID_REQUEST", "Not a SOAP envelope with a Body", ns))
        self.operation: ET.Element = body[0]
        self.headers: dict[str, ET.Element] = (
            {local(el.tag): el for el in header} if header is not None else {})

    @property
    def name(self) -> str:
        """The operation's name (``executeAnonymous``, ``deploy`` ...)."""
        return local(self.operation.tag)

    def arg(self, name: str) -> ET.Element | None:
        """The operation's first child element called ``name`` (any namespace)."""
        return next((el for el in self.operation.iter() if local(el.tag) == name), None)

    def text(self, name: str) -> str | None:
        """The text of the operation's first element called ``name``."""
        el = self.arg(name)
        return None if el is None else (el.text or "")

    def authenticate(self) -> str:
        """The user of the ``SessionHeader`` session (or the bearer token), charged one
        API request; a SoapFault INVALID_SESSION_ID / REQUEST_LIMIT_EXCEEDED otherwise."""
        token = None
        sh = self.headers.get("SessionHeader")
        if sh is not None:
            token = next((el.text for el in sh.iter() if local(el.tag) == "sessionId"), None)
        if not token:
            scheme, _, rest = self.call.request.headers.get("authorization", "").partition(" ")
            token = rest.strip() if scheme.lower() in ("bearer", "oauth") else None
        org = self.call.org
        try:
            user_id = sessions(org).validate(token)
            org.charge_api(1)
        except SalesforceError as e:
            msg = ("Invalid Session ID found in SessionHeader: Illegal Session"
                   if e.error_code == "INVALID_SESSION_ID" else e.message)
            raise SoapFault(fault(e.error_code, msg, self.ns)) from None
        return user_id


class SoapFault(Exception):
    """A SOAP fault to answer with (the handler returns ``response``)."""

    def __init__(self, response: Response) -> None:
        super().__init__("SOAP fault")
        self.response = response


def debug_header_line(version: str, req: SoapRequest) -> str:
    """The log's first line: the API version and the categories asked for."""
    dh = req.headers.get("DebuggingHeader")
    cats: list[str] = []
    if dh is not None:
        for c in dh:
            if local(c.tag) == "categories":
                kv = {local(x.tag): (x.text or "") for x in c}
                if kv.get("category"):
                    cats.append(f"{kv['category'].upper()},{kv.get('level', '').upper()}")
    return f"{version} " + (";".join(cats) if cats else "APEX_CODE,DEBUG;APEX_PROFILING,INFO")


def execute_anonymous(call: Call) -> Response:
    """``POST /services/Soap/s/{version}[/{orgId}]`` ``executeAnonymous``: run the block
    with :func:`sforg_sim.apexlang.execute_anonymous`, answer ExecuteAnonymousResult and
    the debug log (see the module docstring)."""
    from ..apexlang import execute_anonymous as run_block

    try:
        req = SoapRequest(call)
        if req.name != "executeAnonymous":
            return fault("INVALID_OPERATION", f"No operation available for request "
                                              f"{{{APEX_NS}}}{req.name}")
        req.authenticate()
    except SoapFault as f:
        return f.response
    source = req.text("apexcode")
    if source is None:
        return fault("INVALID_REQUEST", "executeAnonymous needs an <apexcode> element")
    org = call.org
    res = run_block(org, source)
    t = org.clock.now().strftime("%H:%M:%S.%f")[:-3] + " (0)"  # as the runtime's lines
    lines = [debug_header_line(call.version, req)]
    lines += [f"Execute Anonymous: {line}" for line in source.splitlines()]
    if res.compiled:
        lines.append(f"{t}|USER_INFO|[EXTERNAL]|{org.user_id[:15]}|"
                     f"{sessions(org).username}|(GMT+00:00) Coordinated Universal "
                     "Time (UTC)|GMT+00:00")
        lines += [f"{t}|EXECUTION_STARTED",
                  f"{t}|CODE_UNIT_STARTED|[EXTERNAL]|execute_anonymous_apex"]
        lines += res.log
        if not res.success:
            lines.append(f"{t}|FATAL_ERROR|{res.exception_message}")
        lines += [f"{t}|CODE_UNIT_FINISHED|execute_anonymous_apex",
                  f"{t}|EXECUTION_FINISHED"]
    log = "\n".join(lines) + "\n"
    result = "".join((
        nil("column", res.column), nil("compileProblem", res.compile_problem),
        nil("compiled", res.compiled), nil("exceptionMessage", res.exception_message),
        nil("exceptionStackTrace", res.exception_stack_trace), nil("line", res.line),
        nil("success", res.success)))
    return soap_response(
        f"<executeAnonymousResponse><result>{result}</result></executeAnonymousResponse>",
        f"<DebuggingInfo>{nil('debugLog', log)}</DebuggingInfo>")
