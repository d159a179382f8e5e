"""``energy store vacuum``: delete the lake's data files that no recent table version reads.

A rewritten month leaves its old files behind so that readers of an older table version (and writers
on other machines still committing) keep working. Vacuum deletes those older than the retention, and
files no version ever committed (a writer that died before its commit). Every revision of a value is
a row of the current version, so reads as of any knowledge time are never affected.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from energy_core.errors import ConfigError, StorageError
from energy_core.home import Home
from energy_core.storage.lock import StoreLock

MIN_RETENTION_HOURS = 168
"""Delta Lake's default: shorter, and a writer on another machine may lose the files it is committing."""


def vacuum(home: Home | Path | str, *, retention_hours: int = MIN_RETENTION_HOURS,
           datasets: list[str] | tuple[str, ...] | None = None, apply: bool = False,
           allow_short_retention: bool = False) -> dict[str, list[str]]:
    """Per dataset, the files (relative to its table) deleted, or with ``apply`` false that would be."""
    from energy_core.storage.lake import Lake

    if retention_hours < MIN_RETENTION_HOURS and not allow_short_retention:
        raise ConfigError(f"a retention of {retention_hours} h is under {MIN_RETENTION_HOURS} h: a writer on another "
                          "machine may still be committing files that young; pass --allow-short-retention if no "
                          "other machine writes this lake")
    home = Home.of(home)
    lake = Lake(home)
    stored = lake.datasets()
    unknown = sorted(set(datasets or ()) - set(stored))
    if unknown:
        raise ConfigError(f"the lake {lake.root} has no table {unknown[0]!r}; its tables: "
                          f"{', '.join(stored) or 'none'}")
    swept: dict[str, list[str]] = {}
    with StoreLock(home.processed_lock) if apply else contextlib.nullcontext():
        for name in datasets or stored:
            table = lake.table(name)
            if table is None:
                continue
            try:
                swept[name] = sorted(table.vacuum(retention_hours=retention_hours, dry_run=not apply,
                                                  enforce_retention_duration=False, full=True))
            except OSError as exc:
                raise StorageError(f"could not vacuum the table {name} of {lake.root}: {exc}") from exc
    return swept
