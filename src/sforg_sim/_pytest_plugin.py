"""The pytest plugin (entry point ``pytest11``): hypothesis profiles and org fixtures.

Imports of the simulator happen inside the fixtures, so merely having the package
installed costs a pytest run nothing.

Profiles (select with ``--hypothesis-profile NAME``; ``ci`` is loaded when ``CI`` is set):
- ``ci``: derandomized, no deadline, 50 examples: the same examples every run, so CI is
  reproducible and a red build is a real failure;
- ``dev``: 25 examples, no deadline, for a fast edit-test loop;
- ``thorough``: 1,000 examples, no deadline, for a nightly or pre-release run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["SimConnection", "register_profiles"]


def register_profiles() -> None:
    """Register the ``ci``, ``dev`` and ``thorough`` hypothesis profiles."""
    from hypothesis import HealthCheck, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50,
                              suppress_health_check=quiet, print_blob=True)
    settings.register_profile("dev", deadline=None, max_examples=25,
                              suppress_health_check=quiet)
    settings.register_profile("thorough", deadline=None, max_examples=1000,
                              suppress_health_check=quiet, print_blob=True)


# Registered at import, not in pytest_configure: hypothesis's own plugin loads the profile
# named by --hypothesis-profile in its pytest_configure, and the order of the two hooks is
# not fixed (it differs between a fresh virtualenv and a development install).
register_profiles()


def pytest_configure(config: pytest.Config) -> None:
    """Default to the ``ci`` profile under CI unless one was chosen on the command line."""
    from hypothesis import settings

    chosen = config.getoption("hypothesis_profile", default=None)
    if chosen is None and os.environ.get("CI"):
        settings.load_profile("ci")


@pytest.fixture
def sf_org() -> Iterator[Any]:
    """A fresh, empty simulated org (enterprise edition)."""
    from sforg_sim import Org

    org = Org()
    try:
        yield org
    finally:
        org.close()


@dataclass
class SimConnection:
    """What ``sf_mock`` and ``sf_server`` yield: the org, a connected client, the adapter.

    ``sf`` is an unmodified ``simple_salesforce.Salesforce``; ``adapter`` is the
    ``mock_org`` handle (with its ``requests`` log) or the running server.
    """

    org: Any
    sf: Any
    adapter: Any


@pytest.fixture
def sf_mock(sf_org: Any) -> Iterator[SimConnection]:
    """``sf_org`` behind ``mock_org()``, with a simple-salesforce client connected to it."""
    from simple_salesforce import Salesforce

    from sforg_sim import mock_org

    with mock_org(sf_org) as sim:
        sf = Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
        yield SimConnection(sf_org, sf, sim)


@pytest.fixture
def sf_server(sf_org: Any) -> Iterator[SimConnection]:
    """``sf_org`` served over HTTPS on 127.0.0.1, with a client that trusts its CA."""
    from simple_salesforce import Salesforce

    from sforg_sim import serve

    with serve(sf_org) as server:
        session = server.http_session()
        sf = Salesforce(instance_url=server.instance_url, session_id=server.access_token,
                        session=session)
        try:
            yield SimConnection(sf_org, sf, server)
        finally:
            session.close()
