"""Recorded answers of the real services (EIA, CAISO, Open-Meteo) and the 2019 EIA-930 extract, kept in
the repository under ``tests/data/<folder>/``; each folder's PROVENANCE.md says where its files came from,
under which licence, and what was changed."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def recorded(path: str) -> Path:
    """``tests/data/<path>``. A missing file is a broken checkout, so it fails the test instead of skipping it."""
    target = DATA / path
    if not target.is_file():
        raise FileNotFoundError(f"recorded file {target} is missing: tests/data/ is part of the repository; "
                                "restore it from version control")
    return target
