"""Review 5 follow-up, describe layouts (issue 19 finding 9; fidelity C18).

- the compact layouts answer's mapping URL (``describe/compactLayouts/primary``) is
  served: the primary compact layout, the system default here;
- describe's ``layoutable`` agrees with which objects answer ``describe/layouts``: the
  objects whose Object Reference "Supported Calls" lack describeLayout() (AsyncApexJob,
  CronTrigger, CronJobDetail, ApexClass, history objects) say false and have no layouts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sforg_sim import Org
from sforg_sim.rest import mock_org


@pytest.fixture
def sf() -> Iterator[Salesforce]:
    org = Org()
    with mock_org(org) as sim:
        yield Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
    org.close()


def _get(sf: Salesforce, path: str) -> tuple[int, Any]:
    r = sf.session.get(f"{sf.base_url}{path}", headers=sf.headers, timeout=30)
    return r.status_code, r.json()


def test_the_advertised_compact_layout_url_is_served(sf: Salesforce) -> None:
    status, body = _get(sf, "sobjects/Account/describe/compactLayouts")
    assert status == 200
    [mapping] = body["recordTypeCompactLayoutMappings"]
    r = sf.session.get(mapping["urls"]["compactLayout"].replace(
        "/services/data/", sf.base_url.split("/services/data/")[0] + "/services/data/"),
        headers=sf.headers, timeout=30)
    assert r.status_code == 200
    assert r.json() == body["compactLayouts"][0]
    assert r.json()["name"] == "SYSTEM" and r.json()["id"] is None
    assert _get(sf, "sobjects/Account/describe/compactLayouts/SYSTEM") == (200, r.json())
    status, err = _get(sf, "sobjects/Account/describe/compactLayouts/Custom_Layout")
    assert (status, err[0]["errorCode"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize("name", ["Account", "Contact", "Opportunity", "Task", "AsyncApexJob",
                                  "OpportunityHistory", "CronTrigger", "CronJobDetail",
                                  "ApexClass"])
def test_layoutable_agrees_with_the_layout_resources(sf: Salesforce, name: str) -> None:
    status, describe = _get(sf, f"sobjects/{name}/describe")
    assert status == 200
    entry = next(o for o in _get(sf, "sobjects")[1]["sobjects"] if o["name"] == name)
    assert entry["layoutable"] == describe["layoutable"]
    system = name in ("AsyncApexJob", "OpportunityHistory", "CronTrigger", "CronJobDetail",
                      "ApexClass")
    assert describe["layoutable"] is not system
    for path in ("describe/layouts", "describe/layouts/012000000000000AAA",
                 "describe/compactLayouts", "describe/compactLayouts/primary"):
        status, _ = _get(sf, f"sobjects/{name}/{path}")
        assert status == (200 if describe["layoutable"] else 404), path
