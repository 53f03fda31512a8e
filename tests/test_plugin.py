"""The pytest plugin, tested as a user's project sees it (pytester)."""

from __future__ import annotations

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


@pytest.mark.parametrize(("profile", "examples"), [("ci", 50), ("dev", 25), ("thorough", 1000)])
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
            assert {profile!r} != "ci" or settings.default.derandomize
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           f"--hypothesis-profile={profile}")
    result.assert_outcomes(passed=2)


def test_ci_profile_is_the_default_under_ci(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    pytester.makepyfile(test_env="""
        from hypothesis import settings

        def test_profile():
            assert settings.default.derandomize and settings.default.max_examples == 50
    """)
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_profiles_exist_as_soon_as_the_plugin_is_imported() -> None:
    # hypothesis's plugin may load --hypothesis-profile before our pytest_configure runs
    # (hook order differs between installs), so registering there is too late.
    import subprocess
    import sys

    code = ("import sforg_sim._pytest_plugin; from hypothesis import settings; "
            "print(settings.get_profile('dev').max_examples, "
            "settings.get_profile('thorough').max_examples, "
            "settings.get_profile('ci').derandomize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["25", "1000", "True"]
