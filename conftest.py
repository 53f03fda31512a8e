"""Project-wide test configuration: the suite runs against the source tree."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

_SRC = Path(__file__).parent / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

pytest_plugins = ["pytester"]

# The suite's compiled grammars (soql.parser.grammar_cache_file) go to a private temporary
# directory for the session, not to the user's ~/.cache: tests do not write into the home
# directory, and each run starts from a known state. Child processes (CLI tests) inherit
# it. A directory the user named in the variable already (or "off") is kept as it is.
_GRAMMAR_CACHE_ENV = "SFORG_SIM_GRAMMAR_CACHE"
_made_grammar_cache: str | None = None
if not os.environ.get(_GRAMMAR_CACHE_ENV):
    _made_grammar_cache = tempfile.mkdtemp(prefix="sforg-sim-grammar-")
    os.environ[_GRAMMAR_CACHE_ENV] = _made_grammar_cache


def pytest_unconfigure(config: object) -> None:
    """Remove the session's grammar cache directory (only the one made above)."""
    if _made_grammar_cache is not None:
        shutil.rmtree(_made_grammar_cache, ignore_errors=True)


# This project's own suite keeps its historical profile names (`--hypothesis-profile=ci` in
# the README and .ci/run) as copies of the kit's namespaced profiles. Only here: the
# installed pytest plugin registers only the `sforg-*` names and loads none of them, so a
# user's other projects keep hypothesis's own `ci` profile.
try:
    from hypothesis import settings as _settings

    from sforg_sim._pytest_plugin import PROFILES as _PROFILES
    from sforg_sim._pytest_plugin import register_profiles as _register_profiles
except ImportError:  # pragma: no cover (the [test] extra installs hypothesis)
    pass
else:
    _register_profiles()
    for _name in _PROFILES:
        _settings.register_profile(_name.removeprefix("sforg-"), _settings.get_profile(_name))
