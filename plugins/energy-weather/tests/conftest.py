from __future__ import annotations

from pathlib import Path

from energy_core.testing import real_data


def real(path: str) -> Path:
    return real_data(path, near=__file__)
