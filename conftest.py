"""Project-wide test configuration: the suite runs against the source tree."""

from __future__ import annotations

import sys
from pathlib import Path

_SRC = Path(__file__).parent / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

pytest_plugins = ["pytester"]
