"""Describe's ``searchable`` flag and SOSL's refusal of unsearchable objects agree.

Source: the Object Reference's "Supported Calls" per object (search() or not), cited at
``sforg_sim.schema.NOT_SEARCHABLE``; docs/fidelity.md SS6.
"""

from __future__ import annotations

import pytest

from sforg_sim import Org
from sforg_sim.errors import MalformedSearch
from sforg_sim.sosl.engine import search


def test_describe_and_sosl_agree_on_every_object() -> None:
    org = Org()
    try:
        for obj in org.schema:
            flag = obj.describe("/services/data/v59.0")["searchable"]
            entry = obj.describe_global_entry("/services/data/v59.0")["searchable"]
            assert flag == entry, obj.name
            with org.lock:
                if flag:
                    search(org.soql, org.schema, f"FIND {{acme}} RETURNING {obj.name}")
                else:
                    with pytest.raises(MalformedSearch, match="does not support search"):
                        search(org.soql, org.schema, f"FIND {{acme}} RETURNING {obj.name}")
    finally:
        org.close()


@pytest.mark.parametrize(("name", "searchable"), [
    # "Supported Calls: describeSObjects(), query(), retrieve()": no search().
    ("AsyncApexJob", False), ("CronTrigger", False), ("CronJobDetail", False),
    ("OpportunityHistory", False), ("ApexClass", False), ("Organization", False),
    ("Account", True), ("Opportunity", True), ("Contact", True), ("Lead", True),
    ("Task", True), ("Event", True), ("User", True),
])
def test_searchable_flag_per_object(name: str, searchable: bool) -> None:
    org = Org()
    try:
        assert org.schema.get(name).describe("/x")["searchable"] is searchable
    finally:
        org.close()

