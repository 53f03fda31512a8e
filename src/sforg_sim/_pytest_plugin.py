"""The pytest plugin (entry point ``pytest11``): hypothesis profiles and org fixtures.

Installing ``sforg-sim`` registers this plugin in every pytest run of the environment, so
it minds its manners:

- it never *loads* a hypothesis profile: your other tests keep whatever profile you (or
  hypothesis, for example its built-in ``ci`` profile when ``CI`` is set) chose;
- its profiles are namespaced, so they cannot replace one of yours or hypothesis's own:
  choose one with ``pytest --hypothesis-profile sforg-ci`` (or ``sforg-dev``,
  ``sforg-thorough``);
- it imports nothing of the simulator until a fixture is used, and it works without
  hypothesis installed (``pip install sforg-sim`` alone): the profiles are then simply not
  registered, and the fixtures still work.

Profiles (:data:`PROFILES`, defined in :mod:`sforg_sim.profiles` so the checker can
read them without importing this plugin):

- ``sforg-ci``: derandomized, no deadline, 50 examples: the same examples every run, so CI
  is reproducible and a red build is a real failure;
- ``sforg-dev``: 25 examples, no deadline, for a fast edit-test loop;
- ``sforg-thorough``: 1,000 examples, no deadline, for a nightly or pre-release run.

Fixtures (``pytest --fixtures`` lists them with these docstrings):

- ``sf_org``: a fresh, empty :class:`sforg_sim.Org`;
- ``sf_mock``: a :class:`SimConnection` for ``sf_org`` behind ``mock_org()``;
- ``sf_server``: a :class:`SimConnection` for ``sf_org`` served over HTTPS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .profiles import PROFILES, register_profiles

__all__ = ["PROFILES", "SimConnection", "register_profiles"]

# Registered at import, not in pytest_configure: hypothesis's own plugin loads the profile
# named by --hypothesis-profile in its pytest_configure, and the order of the two hooks is
# not fixed (it differs between a fresh virtualenv and a development install).
register_profiles()


@pytest.fixture
def sf_org() -> Iterator[Any]:
    """Yields a fresh, empty ``sforg_sim.Org()`` (enterprise edition).

    Seed it with ``sf_org.load_scenario("small")``, query
    it with ``sf_org.query(soql)``, write with ``sf_org.insert/update``); closed after the
    test.
    """
    from sforg_sim import Org

    org = Org()
    try:
        yield org
    finally:
        org.close()


@dataclass
class SimConnection:
    """What ``sf_mock`` and ``sf_server`` yield.

    - ``org``: the :class:`sforg_sim.Org` behind it (the same object as ``sf_org``);
    - ``sf``: an unmodified ``simple_salesforce.Salesforce`` already connected to it;
    - ``adapter``: for ``sf_mock`` the ``mock_org`` handle (``instance_url``,
      ``session_id``, ``username``/``password``/``security_token``,
      ``consumer_key``/``consumer_secret``, and ``requests``: the log of
      ``(method, path, status)`` served); for ``sf_server`` the running server
      (``instance_url`` ``https://127.0.0.1:PORT``, ``access_token``, ``ca_bundle_path``:
      the CA to trust, ``http_session()``: a ``requests.Session`` trusting it).
    """

    org: Any
    sf: Any
    adapter: Any

    @property
    def instance_url(self) -> str:
        """The URL clients connect to (``adapter.instance_url``)."""
        return str(self.adapter.instance_url)


@pytest.fixture
def sf_mock(sf_org: Any) -> Iterator[SimConnection]:
    """Yields a SimConnection (.org, .sf, .adapter) for ``sf_org`` behind ``mock_org()``.

    Requests are intercepted in-process (no network). The
    :class:`~sforg_sim._pytest_plugin.SimConnection`: ``.org`` the Org, ``.sf``
    a connected ``simple_salesforce.Salesforce``, ``.adapter`` the ``mock_org`` handle
    (``instance_url``, ``session_id``, ``username``, ``password``, ``security_token``,
    ``requests``: what was served). Needs ``responses`` (the ``[mock]`` extra).
    """
    from simple_salesforce import Salesforce

    from sforg_sim import mock_org

    with mock_org(sf_org) as sim:
        sf = Salesforce(instance_url=sim.instance_url, session_id=sim.session_id)
        yield SimConnection(sf_org, sf, sim)


@pytest.fixture
def sf_server(sf_org: Any) -> Iterator[SimConnection]:
    """Yields a SimConnection (.org, .sf, .adapter) for ``sf_org`` served over HTTPS.

    A real socket on 127.0.0.1 and a throwaway CA. The
    :class:`~sforg_sim._pytest_plugin.SimConnection`: ``.org`` the Org, ``.sf``
    a ``simple_salesforce.Salesforce`` trusting the server's CA, ``.adapter`` the server
    (``instance_url`` ``https://127.0.0.1:PORT``, ``access_token``, ``ca_bundle_path``:
    the CA bundle to hand to other clients, ``http_session()``). Needs werkzeug and
    trustme (the ``[server]`` extra).
    """
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
