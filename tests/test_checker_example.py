"""The README's example test file runs as a user would run it, and it can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")
EXAMPLE = Path(__file__).parent.parent / "examples" / "test_my_processor.py"


def test_example_file_passes_under_the_ci_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_my_processor=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-q", "-s", "-p", "no:cacheprovider",
                                           "--hypothesis-profile", "sforg-ci")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*51 cases checked*"])  # 50 generated + 1 pinned


def test_example_file_reports_a_bug_in_plain_words(pytester: pytest.Pytester) -> None:
    broken = EXAMPLE.read_text().replace("External_ID__c < {sql_literal(self.part.end)}",
                                         "External_ID__c <= {sql_literal(self.part.end)}")
    assert broken != EXAMPLE.read_text()
    pytester.makepyfile(test_my_processor=broken)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           "--hypothesis-profile", "sforg-ci")
    result.assert_outcomes(failed=1)
    # Which invariant the search meets first (the stray write, or the extra row the
    # inclusive end reads) depends on the examples; either way in plain words.
    result.stdout.fnmatch_lines(["*breaks the * invariant*", "*The dataset:*",
                                 "*The partitioning:*", "*The fault schedule:*"])
