"""Helpers for plugin test suites."""

from __future__ import annotations

from pathlib import Path

import pytest


def real_data(path: str, *, near: str | Path) -> Path:
    """A recorded file under the first ``shared/real/`` found above ``near`` (a test's ``__file__``),
    or skip the test cleanly when it is absent (a user's fresh clone has no ``../shared``)."""
    start = Path(near).resolve()
    for folder in start.parents:
        real = folder / "shared" / "real"
        if real.is_dir():
            target = real / path
            if target.exists():
                return target
            break
    pytest.skip(f"real recorded data {path!r} not available near {start}")
