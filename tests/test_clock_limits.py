"""SimClock and the rolling 24-hour API window."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sforg_sim import Org, SimClock
from sforg_sim.errors import RequestLimitExceeded, UsageError
from sforg_sim.limits import Limits, api_allocation


def test_clock_is_simulated_and_only_moves_forward() -> None:
    c = SimClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert c.stamp() == "2026-03-01T00:00:00.000+0000"
    c.advance(90.5)
    assert c.stamp() == "2026-03-01T00:01:30.500+0000"
    with pytest.raises(ValueError):
        c.advance(-1)


@pytest.mark.parametrize(("edition", "licenses", "expected"), [
    ("developer", 2, 15_000),
    ("professional", 10, 110_000),
    ("enterprise", 340, 440_000),
    ("Enterprise", 300, 400_000),
    ("unlimited", 10, 150_000),
    ("performance", 1, 105_000),
    ("sandbox", 5, 5_000_000),
])
def test_allocation_per_edition(edition: str, licenses: int, expected: int) -> None:
    assert api_allocation(edition, licenses) == expected
    org = Org(edition=edition, licenses=licenses)
    assert org.limits()["DailyApiRequests"] == {"Max": expected, "Remaining": expected}


def test_bad_edition_and_negative_licences_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown edition 'platinum'"):
        Org(edition="platinum")
    with pytest.raises(UsageError, match="licenses"):
        Org(licenses=-1)


def test_async_allocation_is_the_greater_of_250k_and_200_per_licence() -> None:
    assert Org(licenses=10).limits()["DailyAsyncApexExecutions"]["Max"] == 250_000
    assert Org(licenses=2000).limits()["DailyAsyncApexExecutions"]["Max"] == 400_000


def test_usage_expires_exactly_24_hours_later_no_midnight_reset() -> None:
    clock = SimClock(datetime(2026, 1, 5, 23, 0, tzinfo=timezone.utc))
    lim = Limits(clock, "developer")
    lim.charge_api(100)
    clock.advance(3600 * 2)  # past midnight: nothing resets
    assert lim.api_used() == 100
    lim.charge_api(5)
    clock.set(datetime(2026, 1, 6, 22, 59, 59, tzinfo=timezone.utc))
    assert lim.api_used() == 105  # one second short of 24h after the first 100
    clock.advance(1)
    assert lim.api_used() == 5  # the first 100 dropped off exactly 24h later
    clock.set(datetime(2026, 1, 7, 1, 0, tzinfo=timezone.utc))
    assert lim.api_used() == 0


def test_exceeding_the_allocation_raises_request_limit_exceeded() -> None:
    org = Org(edition="developer")
    org.set_api_remaining(2)
    org.charge_api()
    org.charge_api()
    with pytest.raises(RequestLimitExceeded) as e:
        org.charge_api()
    assert e.value.status == 403
    assert e.value.to_rest() == [{"message": "TotalRequests Limit exceeded.",
                                  "errorCode": "REQUEST_LIMIT_EXCEEDED", "fields": []}]
    assert org.limits()["DailyApiRequests"]["Remaining"] == 0
    org.clock.advance(24 * 3600)
    org.charge_api()  # the window moved on
    assert org.org_limits.limit_info() == "api-usage=1/15000"


def test_set_remaining_validates() -> None:
    org = Org(edition="developer")
    with pytest.raises(UsageError):
        org.set_api_remaining(15_001)
    with pytest.raises(UsageError):
        org.set_api_remaining(-1)


def test_limits_body_has_the_documented_keys() -> None:
    body = Org().limits()
    for key in ("DailyApiRequests", "DailyAsyncApexExecutions", "DailyBulkApiBatches",
                "DailyBulkV2QueryJobs"):
        assert set(body[key]) == {"Max", "Remaining"}
    assert body["DailyBulkApiBatches"]["Max"] == 15_000
    assert body["DailyBulkV2QueryJobs"]["Max"] == 10_000
