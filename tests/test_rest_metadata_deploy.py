"""Issue 17 step 3, in process: the Metadata API deploy ``sf project deploy start`` sends
(SOAP ``deploy`` of a base64 zip, then ``checkDeployStatus`` with details), and the
Organization fields the CLI queries first. The real CLI runs it in
tests/test_sf_cli_runbook.py."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sforg_sim import Org
from sforg_sim.apexlang import execute_anonymous, runtime_for
from sforg_sim.rest.auth import sessions
from sforg_sim.rest.dispatch import handle
from sforg_sim.rest.messages import Request, Response

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ROOT / "examples" / "massive-upload" / "force-app" / "main" / "default" / "classes"
M = "/services/Soap/m/64.0"
META = "http://soap.sforce.com/2006/04/metadata"
PACKAGE = (b'<?xml version="1.0" encoding="UTF-8"?><Package xmlns="' + META.encode()
           + b'"><types><members>*</members><name>ApexClass</name></types>'
           b"<version>64.0</version></Package>")
META_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ApexClass xmlns="' + META.encode()
            + b'"><apiVersion>64.0</apiVersion><status>Active</status></ApexClass>')


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.load_scenario("small", records=20)
    yield o


def _zip(files: dict[str, str | bytes]) -> str:
    """A deploy zip as source-deploy-retrieve builds it: package.xml plus classes/."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("package.xml", PACKAGE)
        for name, content in files.items():
            zf.writestr(name, content)
    return base64.b64encode(buf.getvalue()).decode()


def _classes(**sources: str) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {}
    for name, src in sources.items():
        out[f"classes/{name}.cls"] = src
        out[f"classes/{name}.cls-meta.xml"] = META_XML
    return out


def _soap(org: Org, token: str, op: str, inner: str) -> Response:
    """The envelope jsforce writes (lib/soap.js _createEnvelope)."""
    body = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soapenv:Header xmlns="{META}"><SessionHeader><sessionId>{token}</sessionId>'
            f'</SessionHeader></soapenv:Header><soapenv:Body xmlns="{META}"><{op}>{inner}'
            f"</{op}></soapenv:Body></soapenv:Envelope>")
    return handle(org, Request("POST", M, "", {"content-type": "text/xml",
                                               "soapaction": '""'}, body.encode()))


def _result(resp: Response) -> ET.Element:
    assert resp.status == 200, resp.body
    root = ET.fromstring(resp.body)
    res = root.find(f".//{{{META}}}result")
    assert res is not None
    return res


def _t(el: ET.Element, name: str) -> str | None:
    found = el.find(f"{{{META}}}{name}")
    return None if found is None else found.text


def deploy(org: Org, files: dict[str, str | bytes], **options: str) -> ET.Element:
    """deploy, then checkDeployStatus(includeDetails=true) as the CLI polls it."""
    token = sessions(org).create()
    opts = "".join(f"<{k}>{v}</{k}>" for k, v in options.items())
    started = _result(_soap(org, token, "deploy", f"<ZipFile>{_zip(files)}</ZipFile>"
                                                  f"<DeployOptions>{opts}</DeployOptions>"))
    assert _t(started, "done") == "false" and _t(started, "state") == "Queued"
    ident = _t(started, "id")
    assert ident and ident.startswith("0Af")
    status = _result(_soap(org, token, "checkDeployStatus",
                           f"<asyncProcessId>{ident}</asyncProcessId>"
                           "<includeDetails>true</includeDetails>"))
    assert _t(status, "done") == "true" and _t(status, "id") == ident
    return status


def _messages(status: ET.Element, kind: str) -> list[dict[str, str | None]]:
    return [{local.tag.rsplit("}", 1)[-1]: local.text for local in m}
            for m in status.iter(f"{{{META}}}{kind}")]


def test_team_classes_deploy_and_run(org: Org) -> None:
    files = _classes(**{p.stem: p.read_text() for p in CLASSES.glob("*.cls")})
    status = deploy(org, files)
    assert _t(status, "status") == "Succeeded" and _t(status, "success") == "true"
    ok = _messages(status, "componentSuccesses")
    apex = sorted(m["fullName"] or "" for m in ok if m["componentType"] == "ApexClass")
    assert apex == sorted(p.stem for p in CLASSES.glob("*.cls"))
    assert all(m["created"] == "true" and m["fileName"] == f"classes/{m['fullName']}.cls"
               for m in ok if m["componentType"] == "ApexClass")
    assert _t(status, "numberComponentsDeployed") == str(len(apex))
    assert _t(status, "numberComponentsTotal") == str(len(apex))
    # Installed: anonymous Apex can use the class now.
    res = execute_anonymous(org, "Object o = new DynamicPartitionProcessorV2(0, 'a', 'b');")
    assert res.success, res.exception_message or res.compile_problem


def test_redeploy_reports_changed(org: Org) -> None:
    src = "public class Thing { public static Integer one() { return 1; } }"
    deploy(org, _classes(Thing=src))
    status = deploy(org, _classes(Thing=src.replace("1;", "2;")))
    [msg] = [m for m in _messages(status, "componentSuccesses") if m["fullName"] == "Thing"]
    assert msg["created"] == "false" and msg["changed"] == "true"


def test_compile_error_fails_the_whole_deploy_with_line_and_column(org: Org) -> None:
    good = "public class Fine { }"
    bad = "public class Broken {\n    public void f() {\n        Integer x = nope;\n    }\n}\n"
    status = deploy(org, _classes(Fine=good, Broken=bad))
    assert _t(status, "status") == "Failed" and _t(status, "success") == "false"
    [fail] = [m for m in _messages(status, "componentFailures") if m["fullName"] == "Broken"]
    assert fail["problemType"] == "Error" and fail["componentType"] == "ApexClass"
    assert fail["problem"] == "Variable does not exist: nope"
    assert (fail["lineNumber"], fail["columnNumber"]) == ("3", "21")
    assert fail["fileName"] == "classes/Broken.cls"
    assert _t(status, "numberComponentsDeployed") == "0"
    # All or none: the good class was not installed either.
    assert "fine" not in runtime_for(org).infos


def test_other_metadata_types_fail_by_name(org: Org) -> None:
    status = deploy(org, {"objects/Thing__c.object": "<CustomObject/>"})
    assert _t(status, "status") == "Failed"
    [fail] = _messages(status, "componentFailures")
    assert "Apex classes only" in (fail["problem"] or "")


def test_check_only_is_refused_not_faked(org: Org) -> None:
    status = deploy(org, _classes(Fine="public class Fine { }"), checkOnly="true")
    assert _t(status, "status") == "Failed" and "check-only" in (_t(status, "errorMessage")
                                                                 or "")
    assert "fine" not in runtime_for(org).infos


def test_bad_zip_is_a_failed_deploy_not_a_500(org: Org) -> None:
    token = sessions(org).create()
    started = _result(_soap(org, token, "deploy", "<ZipFile>bm90IGEgemlw</ZipFile>"))
    status = _result(_soap(org, token, "checkDeployStatus",
                           f"<asyncProcessId>{_t(started, 'id')}</asyncProcessId>"))
    assert _t(status, "status") == "Failed"
    assert "could not be read" in (_t(status, "errorMessage") or "")


def test_unknown_deploy_id_and_bad_session_are_faults(org: Org) -> None:
    token = sessions(org).create()
    resp = _soap(org, token, "checkDeployStatus",
                 "<asyncProcessId>0Af000000000000</asyncProcessId>")
    assert resp.status == 500 and b"sf:INVALID_ID_FIELD" in resp.body
    resp = _soap(org, "00Dbogus!nope", "deploy", f"<ZipFile>{_zip({})}</ZipFile>")
    # jsforce refreshes the token on exactly this fault (lib/soap.js isSessionExpired).
    assert resp.status == 500 and b"<faultcode>sf:INVALID_SESSION_ID</faultcode>" in resp.body
    resp = _soap(org, token, "retrieve", "")
    assert resp.status == 500 and b"INVALID_OPERATION" in resp.body


def test_deploy_is_charged_as_an_api_request(org: Org) -> None:
    before = org.org_limits.api_used()
    deploy(org, _classes(Fine="public class Fine { }"))
    assert org.org_limits.api_used() == before + 2  # deploy + one checkDeployStatus


def test_organization_fields_the_cli_asks_first(org: Org) -> None:
    rows = org.query("SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, "
                     "NamespacePrefix, OrganizationType FROM Organization")["records"]
    assert len(rows) == 1
    assert rows[0]["TrialExpirationDate"] is None and rows[0]["NamespacePrefix"] is None
