"""The lake's journal: the runs and windows of every machine that writes a shared lake, kept beside the data
they stored, so ``energy status`` on any machine shows the team's work.

Each machine's catalog stays the runner's own record (pending windows, resumption, requests); when a run
ends, its record and its windows' outcomes are appended here too. Appends never conflict, so machines
never wait on each other; a run that cannot append (the lake unreachable) says so in its warnings and
loses nothing, since its data and catalog are already written.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from energy_core.home import Home

RUN_SCHEMA = pl.Schema({"run_id": pl.String, "machine": pl.String, "command": pl.String, "started_at": pl.String,
                        "finished_at": pl.String, "status": pl.String, "rows_stored": pl.Int64})
WINDOW_SCHEMA = pl.Schema({"run_id": pl.String, "machine": pl.String, "source": pl.String, "dataset": pl.String,
                           "start": pl.String, "end": pl.String, "regions": pl.String, "status": pl.String,
                           "rows": pl.Int64, "finished_at": pl.String})


class Journal:
    """The ``journal/runs`` and ``journal/windows`` Delta tables of a home's lake."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.root = f"{home.shared}/journal"
        self._options = home.storage_options()

    def record(self, run: Mapping[str, Any], windows: Sequence[Mapping[str, Any]]) -> None:
        """Append one finished run and its windows (catalog rows: ``regions`` a list)."""
        machine = socket.gethostname()
        runs = pl.DataFrame([{**{k: run.get(k) for k in RUN_SCHEMA.names()}, "machine": machine}], schema=RUN_SCHEMA)
        rows = [{**{k: w.get(k) for k in WINDOW_SCHEMA.names()}, "machine": machine,
                 "regions": json.dumps(list(w.get("regions") or [])), "finished_at": run.get("finished_at")}
                for w in windows]
        self._append("windows", pl.DataFrame(rows, schema=WINDOW_SCHEMA))
        self._append("runs", runs)  # last: a run in the journal has its windows there too

    def runs(self) -> list[dict[str, Any]]:
        """Every journalled run, newest first."""
        return self._read("runs", RUN_SCHEMA).sort("started_at", descending=True).to_dicts()

    def windows(self) -> list[dict[str, Any]]:
        """Every journalled window outcome, oldest first, ``regions`` as a list."""
        rows = self._read("windows", WINDOW_SCHEMA).sort("finished_at", maintain_order=True).to_dicts()
        for row in rows:
            row["regions"] = json.loads(row["regions"])
        return rows

    def _append(self, name: str, frame: pl.DataFrame) -> None:
        """Blind appends: deltalake commits a racing writer's as the next version (a lost create too)."""
        from deltalake import write_deltalake

        if frame.height:
            write_deltalake(f"{self.root}/{name}", frame.to_arrow(), mode="append", storage_options=self._options)

    def _read(self, name: str, schema: pl.Schema) -> pl.DataFrame:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            table = DeltaTable(f"{self.root}/{name}", storage_options=self._options)
        except TableNotFoundError:
            return pl.DataFrame(schema=schema)
        # polars reads the files itself: deltalake's pyarrow dataset (to_pyarrow_table) reads an object
        # store on Arrow's threads, which now and then abort the process at exit (pola-rs/polars#24169)
        return pl.scan_delta(table).select(schema.names()).cast(schema).collect()
