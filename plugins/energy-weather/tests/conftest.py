from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "real"


def real(path: str) -> Path:
    target = REAL / path
    if not target.exists():
        pytest.skip(f"real recorded data not available at {target}")
    return target
