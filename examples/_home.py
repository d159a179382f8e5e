"""Where the examples keep their data: the first argument, else ``./example-data``."""

from __future__ import annotations

import sys
from pathlib import Path


def home() -> Path:
    return Path(sys.argv[1] if len(sys.argv) > 1 else "example-data")
