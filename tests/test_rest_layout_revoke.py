"""``describe_layout`` and ``oauth2('revoke')`` through unmodified simple-salesforce
(issue 19, items a and b), against ``mock_org`` and the HTTPS server.

Sources: *REST API Developer Guide*, "Get Layouts and Descriptions for a Specified
Object", "... for an Object With Multiple Record Types", "SObject CompactLayouts";
*Mobile SDK Development Guide*, "Revoking OAuth Tokens" (200 on success, 400
``invalid_token``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from sforg_sim import Org
from sforg_sim.rest import mock_org, serve
from sforg_sim.rest.sobjects import MASTER_RECORD_TYPE_ID


@dataclass
class Env:
    """One adapter: the org, where it answers and a fresh session's token."""

    org: Org
    instance_url: str
    session: requests.Session
    new_token: object

    def client(self, token: str | None = None) -> Salesforce:
        """A bearer-token client (with a new session unless ``token`` is given)."""
        return Salesforce(instance_url=self.instance_url,
                          session_id=token or str(self.new_token()),  # type: ignore[operator]
                          session=self.session)


@pytest.fixture(params=["mock", "server"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    from sforg_sim.rest.auth import sessions

    org = Org()
    if request.param == "mock":
        with mock_org(org) as sim:
            yield Env(org, sim.instance_url, requests.Session(), sessions(org).create)
    else:
        with serve(org) as server:
            yield Env(org, server.instance_url, server.http_session(),
                      sessions(org).create)
    org.close()


# --- layouts ---------------------------------------------------------------------------

def test_describe_layout_for_the_master_record_type(env: Env) -> None:
    sf = env.client()
    layout = sf.Opportunity.describe_layout(MASTER_RECORD_TYPE_ID)
    assert {"buttonLayoutSection", "detailLayoutSections", "editLayoutSections", "feedView",
            "highlightsPanelLayoutSection", "id", "multirowEditLayoutSections",
            "offlineLinks", "quickActionList", "relatedContent", "relatedLists",
            "saveOptions"} <= set(layout)
    assert layout["id"].startswith("00h")
    [detail] = layout["detailLayoutSections"]
    names = [c["value"] for row in detail["layoutRows"] for item in row["layoutItems"]
             for c in item["layoutComponents"]]
    described = [f["name"] for f in sf.Opportunity.describe()["fields"]]
    assert names == described                       # built from describe, in its order
    items = {item["layoutComponents"][0]["value"]: item
             for row in layout["editLayoutSections"][0]["layoutRows"]
             for item in row["layoutItems"]}
    assert "Id" not in items                        # not createable nor updateable
    assert items["StageName"]["required"] and items["CloseDate"]["required"]
    assert not items["Amount"]["required"]          # nillable
    # the 15-character form of the master id names the same layout
    assert sf.Opportunity.describe_layout(MASTER_RECORD_TYPE_ID[:15])["id"] == layout["id"]


def test_describe_layouts_lists_the_layout_and_the_master_mapping(env: Env) -> None:
    sf = env.client()
    body = sf.restful("sobjects/Account/describe/layouts")
    assert body["recordTypeSelectorRequired"] == [False]
    [layout] = body["layouts"]
    [mapping] = body["recordTypeMappings"]
    assert mapping["recordTypeId"] == MASTER_RECORD_TYPE_ID and mapping["master"]
    assert mapping["layoutId"] == layout["id"]
    related = {r["name"]: r["sobject"] for r in layout["relatedLists"]}
    assert related.get("Contacts") == "Contact"     # a child relationship of Account


def test_describe_compact_layouts_is_the_system_default(env: Env) -> None:
    body = env.client().restful("sobjects/Account/describe/compactLayouts")
    assert body["defaultCompactLayoutId"] is None
    [compact] = body["compactLayouts"]
    assert compact["name"] == "SYSTEM" and compact["objectType"] == "Account"
    assert [i["layoutComponents"][0]["value"] for i in compact["fieldItems"]] == ["Name"]
    [mapping] = body["recordTypeCompactLayoutMappings"]
    assert mapping["recordTypeId"] == MASTER_RECORD_TYPE_ID
    assert mapping["compactLayoutId"] is None


@pytest.mark.parametrize("record_type", ["0120000000000AbAAA", "not-an-id", "001000000000001"])
def test_describe_layout_of_an_unknown_record_type_is_404(env: Env, record_type: str) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        env.client().Opportunity.describe_layout(record_type)


def test_describe_layout_of_an_unknown_object_is_404(env: Env) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        env.client().NoSuchThing__c.describe_layout(MASTER_RECORD_TYPE_ID)


# --- revoke ------------------------------------------------------------------------------

def test_revoke_ends_the_session_then_401(env: Env) -> None:
    token = str(env.new_token())  # type: ignore[operator]
    sf = env.client(token)
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    assert sf.oauth2("revoke", {"token": token}, method="POST") is None   # 200, no body
    with pytest.raises(SalesforceExpiredSession) as e:
        sf.query("SELECT Id FROM Account")
    assert e.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_revoke_by_get_and_by_form_body(env: Env) -> None:
    other = str(env.new_token())  # type: ignore[operator]
    sf = env.client()
    sf.oauth2("revoke", {"token": other})           # GET ?token=
    with pytest.raises(SalesforceExpiredSession):
        env.client(other).query("SELECT Id FROM Account")
    third = str(env.new_token())  # type: ignore[operator]
    r = env.session.post(f"{env.instance_url}/services/oauth2/revoke",
                         data={"token": third}, timeout=30)
    assert r.status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        env.client(third).query("SELECT Id FROM Account")
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0   # the caller's own lives


@pytest.mark.parametrize("params", [{"token": "00Dbogus!AQnotatoken"}, {}])
def test_revoke_of_an_unknown_or_missing_token_is_400_invalid_token(
        env: Env, params: dict[str, str]) -> None:
    sf = env.client()
    with pytest.raises(SalesforceMalformedRequest) as e:
        sf.oauth2("revoke", params, method="POST")
    assert e.value.content["error"] == "invalid_token"
    token = str(env.new_token())  # type: ignore[operator]
    sf.oauth2("revoke", {"token": token}, method="POST")
    with pytest.raises(SalesforceMalformedRequest):  # a revoked token is invalid too
        sf.oauth2("revoke", {"token": token}, method="POST")
