"""The pytest plugin, tested as a user's project sees it (pytester)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")


def test_fixtures_give_a_connected_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
        def test_org(sf_org):
            assert sf_org.limits()["DailyApiRequests"]["Max"] == 440_000

        def test_mock(sf_mock):
            sf_mock.sf.Opportunity.create({"Name": "a", "StageName": "Prospecting",
                                           "CloseDate": "2026-02-01"})
            res = sf_mock.sf.query("SELECT COUNT() FROM Opportunity")
            assert res["totalSize"] == 1
            assert [(r.method, r.status) for r in sf_mock.adapter.requests] == [
                ("POST", 201), ("GET", 200)]

        def test_server(sf_server):
            assert sf_server.sf.limits()["DailyApiRequests"]["Max"] == 440_000
            assert sf_server.adapter.instance_url.startswith("https://127.0.0.1:")
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(("profile", "examples"),
                         [("sforg-ci", 50), ("sforg-dev", 25), ("sforg-thorough", 1000)])
def test_hypothesis_profiles(pytester: pytest.Pytester, profile: str, examples: int) -> None:
    pytester.makepyfile(test_profile=f"""
        from hypothesis import given, settings, strategies as st

        calls = []

        @given(st.integers())
        def test_count(n):
            calls.append(n)

        def test_after():
            assert settings.default.max_examples == {examples}
            assert settings.default.deadline is None
            assert {profile!r} != "sforg-ci" or settings.default.derandomize
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           f"--hypothesis-profile={profile}")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("ci", ["1", None])
def test_the_plugin_loads_no_profile_of_its_own(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch,
                                                ci: str | None) -> None:
    # An unrelated project's tests keep hypothesis's own choice: its built-in `ci` profile
    # (100 examples) under CI, `default` otherwise; the plugin's profiles only by name.
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    expected = "ci" if ci else "default"
    pytester.makepyfile(test_env=f"""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == {expected!r}
            assert settings.default.max_examples == 100
            assert settings.get_profile("ci").max_examples == 100
    """)
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_profiles_exist_as_soon_as_the_plugin_is_imported() -> None:
    # hypothesis's plugin may load --hypothesis-profile before our pytest_configure runs
    # (hook order differs between installs), so registering there is too late.
    code = ("import sforg_sim._pytest_plugin; from hypothesis import settings; "
            "print(settings.get_profile('sforg-dev').max_examples, "
            "settings.get_profile('sforg-thorough').max_examples, "
            "settings.get_profile('sforg-ci').derandomize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["25", "1000", "True"]


def test_the_plugin_imports_without_hypothesis() -> None:
    # A plain install (no [testkit] extra) has no hypothesis: the pytest11 entry point
    # must still import, or every pytest run in that environment would break.
    code = ("import sys; sys.modules['hypothesis'] = None; "
            "import sforg_sim._pytest_plugin as p; print(p.register_profiles())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"]


def test_fixture_docs_say_what_they_yield(pytester: pytest.Pytester) -> None:
    brief = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    brief.stdout.fnmatch_lines(["sf_mock*", "*SimConnection (.org, .sf, .adapter)*"])
    brief.stdout.fnmatch_lines(["sf_org*", "*sforg_sim.Org()*"])
    full = pytester.runpytest_subprocess("--fixtures", "-v", "-p", "no:cacheprovider")
    full.stdout.fnmatch_lines(["sf_server*", "*SimConnection*", "*ca_bundle_path*"])
