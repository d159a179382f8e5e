"""Ingest benchmark: a simulated year of EIA-930 pages for 65 balancing authorities, from raw JSON
pages on disk, through parse + validate + normalize + the lake sink (Delta Lake).

Each path runs in its own fresh process, so peak RSS is that path's alone:

  decode  the limit: read the same bytes and orjson.loads them, nothing else
  energy  energy's pipeline: parse_page (pydantic, whole pages) -> assemble_window -> EiaNormalizer
          -> validate_observations -> LakeSink
  naive   the peer: json.load + one pydantic model per row + pandas + to_parquet

    uv run --group bench python benchmarks/ingest_eia.py            # all three, prints the table
    uv run --group bench python benchmarks/ingest_eia.py --skip-naive
    uv run python benchmarks/ingest_eia.py --skip-naive --repeat 5   # alternated, medians: steadier on a busy machine
    uv run python benchmarks/ingest_eia.py --smoke    # a month of 2 BAs in a temporary folder; the tests run it

Every run checks that the paths ended with the same rows, and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

CACHE = Path(__file__).parent / ".cache" / "eia_year"
YEAR = (datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
SMOKE = (datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC), ("PACW", "ERCO"))


def coverage(start: datetime, end: datetime, regions: tuple[str, ...]) -> dict:
    """What a set of pages covers, as stored in its manifest (so a cache of another size is not reused)."""
    return {"start": start.isoformat(), "end": end.isoformat(), "regions": list(regions)}


def plan(covered: dict) -> list:
    """The windows energy's planner makes for ``covered`` (both EIA datasets)."""
    from energy_core.plugin.interfaces import FetchRequest
    from energy_eia.codes import ROUTES
    from energy_eia.source import EiaSource

    request = FetchRequest(datetime.fromisoformat(covered["start"]), datetime.fromisoformat(covered["end"]),
                           tuple(covered["regions"]), tuple(ROUTES))
    return EiaSource.plan(EiaSource.__new__(EiaSource), request)


def generate(directory: Path, covered: dict, simulator: Any = None) -> None:
    """Write the pages energy's planner would request, as ``simulator`` (an ``EiaSimulator`` with the key
    ``BENCH-KEY``; default: its synthetic data, 40% of values as numbers, 60% as strings) answers them."""
    from energy_core.plugin.simulator import SimRequest
    from energy_eia.codes import ROUTES
    from energy_eia.simulator import EiaSimulator
    from energy_eia.source import PAGE_LENGTH, page_params

    simulator = simulator or EiaSimulator(api_key="BENCH-KEY", numeric_values=0.4)
    windows = plan(covered)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = []
    for w_index, window in enumerate(windows):
        route = ROUTES[window.dataset]
        offset, total = 0, None
        while total is None or offset < total:
            query = [*page_params(route, window, offset), ("api_key", "BENCH-KEY")]
            response = simulator.handle(SimRequest(f"/v2/{route.path}/data/", query, {}))
            total = int(json.loads(response.body)["response"]["total"]) if total is None else total
            name = f"w{w_index:04d}_o{offset:06d}.json"
            (directory / name).write_bytes(response.body)
            manifest.append({"file": name, "window": w_index})
            offset += PAGE_LENGTH
    (directory / "manifest.json").write_text(json.dumps({"covers": covered, "pages": manifest}))
    print(f"generated {len(manifest)} pages for {len(windows)} windows in {directory}", file=sys.stderr)


def read_manifest(directory: Path) -> dict:
    """``{"covers": ..., "pages": [...]}``; empty when nothing (or an older layout) was generated there."""
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else None
    return manifest if isinstance(manifest, dict) else {}


def pages(directory: Path) -> list[dict]:
    return read_manifest(directory)["pages"]


def run_decode(directory: Path, started: list[float]) -> int:
    import orjson

    started.append(time.perf_counter())
    rows = 0
    for entry in pages(directory):
        rows += len(orjson.loads((directory / entry["file"]).read_bytes())["response"]["data"])
    return rows


PIPELINE_MODULES = ("energy_core.home", "energy_core.ingest.worker", "energy_core.storage.sinks",
                    "energy_eia.normalize", "energy_eia.parse", "energy_eia.source", "deltalake", "pyarrow",
                    "pyarrow.parquet")
"""What storing pages imports (the lake sink imports deltalake and pyarrow at its first write, and pyarrow's
Parquet reader to take each file's statistics at its first commit): imported before a clock starts, so that
it times the data path only."""


def import_pipeline() -> None:
    for name in PIPELINE_MODULES:
        importlib.import_module(name)


def run_energy(directory: Path, home: Path | str | None, started: list[float]) -> int:
    """The same steps ``energy run`` takes after a page arrives (see :func:`store_windows`), for the pages
    in ``directory``, into the lake of ``home`` (a path or an ``s3://`` URI; None: into no sink). Returns
    the rows stored."""
    import gc
    from itertools import groupby

    from energy_core.allocator import keep_large_buffers

    import_pipeline()
    gc.freeze()  # as the CLI does after its imports
    keep_large_buffers()
    started.append(time.perf_counter())
    windows = plan(read_manifest(directory)["covers"])
    by_window = [(windows[index], [directory / e["file"] for e in entries])
                 for index, entries in groupby(pages(directory), key=lambda e: e["window"])]
    return store_windows([(window, partial(_read_all, files)) for window, files in by_window], home)


def _read_all(files: list[Path]) -> list[bytes]:
    return [file.read_bytes() for file in files]


def store_windows(windows: list[tuple[Any, Callable[[], list[bytes]]]], home: Path | str | None) -> int:
    """Parse, assemble, normalize, validate and store each window's pages (``(window, read its bodies)``)
    several windows at a time, as the runner's window threads do, through its own store. Returns the rows
    stored; ``scale.py`` runs it too, on its rendered pages."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    from energy_core.home import Home
    from energy_core.ingest.worker import WINDOWS_IN_FLIGHT, WindowStore
    from energy_core.plugin.interfaces import HttpResponse
    from energy_core.storage.sinks import LakeSink
    from energy_eia.codes import ROUTES
    from energy_eia.normalize import EiaNormalizer
    from energy_eia.parse import parse_page
    from energy_eia.source import assemble_window

    fetched_at = datetime.now(UTC)
    with (LakeSink(Home.of(home)) if home is not None else nullcontext()) as sink, \
            WindowStore(EiaNormalizer(), [sink] if sink is not None else []) as store:

        def fetch_and_store(item: tuple[Any, Callable[[], list[bytes]]]) -> int:
            window, read = item
            route = ROUTES[window.dataset]
            parsed = [parse_page(HttpResponse(200, "application/json", body, window.describe()), route)
                      for body in read()]
            return int(store.store(assemble_window(route, window, parsed, fetched_at))["len"].sum())

        with ThreadPoolExecutor(WINDOWS_IN_FLIGHT) as pool:
            return sum(pool.map(fetch_and_store, windows))


def run_naive(directory: Path, home: Path, started: list[float]) -> int:
    import json as stdlib_json
    from datetime import timedelta

    import pandas as pd
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class Row(BaseModel):
        model_config = ConfigDict(populate_by_name=True)
        period: datetime
        respondent: str
        respondent_name: str = Field(alias="respondent-name")
        code: str = Field(validation_alias="type")
        value: float | None

        @field_validator("period", mode="before")
        @classmethod
        def hourly(cls, v: str) -> datetime:
            return datetime.strptime(v, "%Y-%m-%dT%H").replace(tzinfo=UTC)

    class FuelRow(Row):
        code: str = Field(validation_alias="fueltype")

    started.append(time.perf_counter())
    records = []
    for entry in pages(directory):
        data = stdlib_json.loads((directory / entry["file"]).read_bytes())["response"]["data"]
        model = FuelRow if data and "fueltype" in data[0] else Row
        dataset = "eia.fuel" if model is FuelRow else "eia.region"
        for raw in data:
            row = model.model_validate(raw)
            records.append({"ts": row.period - timedelta(hours=1), "dataset": dataset, "region": row.respondent,
                            "series": row.code, "value": row.value})
    frame = pd.DataFrame.from_records(records).drop_duplicates(["dataset", "region", "series", "ts"])
    frame.to_parquet(home / "naive.parquet")
    return len(frame)


def measure(mode: str, directory: Path) -> dict:
    """Run one path; the clock starts after its imports, so only the data path is timed."""
    started: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        runner = {"decode": lambda: run_decode(directory, started),
                  "energy": lambda: run_energy(directory, Path(home), started),
                  "naive": lambda: run_naive(directory, Path(home), started)}[mode]
        rows = runner()
        seconds = time.perf_counter() - started[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mode": mode, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_rss": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=CACHE, help="where the generated pages live")
    parser.add_argument("--skip-naive", action="store_true", help="the naive peer takes minutes; skip it")
    parser.add_argument("--smoke", action="store_true", help="a month of 2 BAs, generated in a temporary folder")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the decode limit and energy N times each, alternately; report the medians")
    parser.add_argument("--mode", choices=["decode", "energy", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.data)))
        return
    skip_naive = args.skip_naive
    if not skip_naive and importlib.util.find_spec("pandas") is None:
        print("pandas is not installed (uv sync --group bench): the naive peer is skipped", file=sys.stderr)
        skip_naive = True
    with tempfile.TemporaryDirectory() as scratch:
        if args.smoke:
            data, covered = Path(scratch), coverage(*SMOKE)
        else:
            from energy_eia.synthetic import BALANCING_AUTHORITIES

            data, covered = args.data, coverage(*YEAR, BALANCING_AUTHORITIES)
        if read_manifest(data).get("covers") != covered:
            generate(data, covered)
        report(data, ["decode", "energy"] + ([] if skip_naive else ["naive"]), args.repeat)


def run_path(mode: str, data: Path) -> dict:
    """One path, in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--mode", mode, "--data", str(data)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"the {mode} path failed:\n{out.stderr}")
    return json.loads(out.stdout)


def report(data: Path, modes: list[str], repeat: int = 1) -> None:
    """Run each path in a fresh process (decode and energy ``repeat`` times, one after the other, so that a
    machine whose speed drifts slows both alike), print the table with each path's median run, and stop
    unless every path ended with the same rows."""
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for attempt in range(repeat):
        for mode in modes:
            if mode != "naive" or attempt == 0:  # the peer takes minutes and is 16x slower: once is enough
                runs[mode].append(run_path(mode, data))
    results = {mode: sorted(found, key=lambda r: r["seconds"])[len(found) // 2] for mode, found in runs.items()}
    ratios = sorted(d["seconds"] / e["seconds"] for d, e in zip(runs["decode"], runs["energy"], strict=True))
    size_bytes = sum((data / entry["file"]).stat().st_size for entry in pages(data))
    print(f"input: {len(pages(data))} pages, {size_bytes / 1e9:.2f} GB of JSON")
    print("| path | rows | seconds | rows/s | peak RSS |\n|---|---|---|---|---|")
    for r in results.values():
        print(f"| {r['mode']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s'] / 1e6:.2f} M | "
              f"{r['peak_rss'] / 2**30:.2f} GiB |")
    energy = results["energy"]["rows_per_s"]
    each = f"; each run: {', '.join(f'{r:.2f}' for r in ratios)}" if repeat > 1 else ""
    print(f"energy / decode limit: {ratios[len(ratios) // 2]:.2f} x (target >= 0.5){each}")
    if "naive" in results:
        print(f"energy / naive peer: {energy / results['naive']['rows_per_s']:.1f} x (target >= 10)")
    print(f"energy peak RSS: {results['energy']['peak_rss'] / 2**30:.2f} GiB (target <= 1 GB)")
    rows = {mode: r["rows"] for mode, r in results.items()}
    if len(set(rows.values())) != 1:
        sys.exit(f"checks failed: the paths ended with different numbers of rows: {rows}")
    print(f"checks passed: every path ended with the {rows['decode']:,} rows of the pages")


if __name__ == "__main__":
    main()
