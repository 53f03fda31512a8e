"""Project-wide test configuration: the suite runs against the source tree."""

from __future__ import annotations

import sys
from pathlib import Path

_SRC = Path(__file__).parent / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

pytest_plugins = ["pytester"]

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
