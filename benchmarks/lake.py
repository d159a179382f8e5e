"""Lake benchmark: the recorded 2019 EIA-930 year of 6 BAs (tests/data/eia930_2019), as the pages EIA's API
would send, ingested into a Delta lake on a local folder and on S3 (moto's server on 127.0.0.1), then 10%
of its hours revised and one BA-year read, latest and as of before the revision.

Each path runs in its own fresh process; its clock starts after its imports:

  decode    the limit, as ingest_eia.py measures it: read the pages and orjson.loads them, nothing else
  pipeline  energy's steps without a store: parse -> assemble -> normalize -> validate, into no sink
  local     the same into the lake sink of a local home; then the revision (Lake.upsert of 10% of the hours
            with a later retrieved_at), the reads and the store's size
  s3        the same into s3://<bucket>/home on moto's server (AWS_* and ENERGY_LOCAL_HOME set for the run)

    uv run python benchmarks/lake.py [--json lake.json]   # first run writes the pages (a few seconds)
    uv run python benchmarks/lake.py --smoke              # 3 days of PACW in a temporary folder; the tests run it

Every run checks that each path stored every row of the pages, that the latest read shows the revised
values and that the read as of before the revision equals the read made before it, and exits non-zero
otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ingest_eia import coverage, pages, read_manifest, run_decode, run_energy
from ingest_eia import generate as generate_pages

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "eia930_2019" / "eia930_2019_6ba.parquet"
CACHE = Path(__file__).parent / ".cache" / "eia2019_6ba"
YEAR = (datetime(2018, 12, 31, 23, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC),
        ("PACW", "ERCO", "MISO", "PJM", "ISNE", "NYIS"))
"""The recorded year in interval starts: its first period, 2019-01-01T00, ends the hour starting 2018-12-31 23:00."""
SMOKE = (datetime(2019, 3, 1, tzinfo=UTC), datetime(2019, 3, 4, tzinfo=UTC), ("PACW",))
READS = 5
REVISED_EVERY = 10
"""One hour in ten (by hours since the epoch) gets a revised value."""
REVISION_FACTOR = 1.05
T = TypeVar("T")


def generate(directory: Path, covered: dict) -> None:
    """Write the pages energy's planner would request, as the EIA simulator's table mode answers them."""
    from energy_eia.simulator import EiaSimulator

    generate_pages(directory, covered, EiaSimulator(api_key="BENCH-KEY", table=REAL))


# -- one target, in its own process ------------------------------------------------------------------------


def ingest(directory: Path, where: str | None, started: list[float]) -> int:
    """ingest_eia.py's energy path into the lake at ``where`` (None: into no sink), with deltalake and pyarrow
    imported first (the sink imports them on its first commit; the clock starts after imports)."""
    import deltalake  # noqa: F401
    import pyarrow  # noqa: F401

    return run_energy(directory, where, started)


def timed(action: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def measure_target(directory: Path, where: str) -> dict:
    """Ingest, revise, read and size the lake at ``where``; stop unless every check passes."""
    import polars as pl

    from energy_core.storage.lake import Lake

    started: list[float] = []
    rows = ingest(directory, where, started)
    ingest_s = time.perf_counter() - started[0]
    lake = Lake(where)
    region = read_manifest(directory)["covers"]["regions"][0]

    def one_ba_year(as_of: datetime | None = None) -> pl.DataFrame:
        return Lake(where).scan("eia.region", as_of=as_of).filter(pl.col("region") == region).collect()

    before = one_ba_year()
    stored = lake.scan().select(pl.len()).collect().item()
    if stored != rows:
        sys.exit(f"{where}: {rows:,} rows ingested but the lake holds {stored:,}")
    known = datetime.now(UTC)
    time.sleep(0.01)
    revision = (lake.scan().filter(revised_hours())
                .with_columns(pl.col("value") * REVISION_FACTOR, retrieved_at=pl.lit(datetime.now(UTC)))
                .collect())
    revise_s, stats = timed(lambda: lake.upsert(revision))

    moments = {"latest": None, "as of": known}
    read_s: dict[str, list[float]] = {kind: [] for kind in moments}
    read: dict[str, pl.DataFrame] = {}
    for i in range(READS):  # alternated, so load on the machine weighs on both alike
        for kind in (("latest", "as of") if i % 2 == 0 else ("as of", "latest")):
            seconds, read[kind] = timed(partial(one_ba_year, moments[kind]))
            read_s[kind].append(seconds)
    check_reads(where, before, read["latest"], read["as of"])
    return {"rows": rows, "ingest_s": ingest_s, "rows_per_s": rows / ingest_s,
            "revision_rows": revision.height, "revision_changed": stats.rows_changed, "revision_s": revise_s,
            "revision_months": stats.files_written, "revision_commits": stats.commits,
            "ba": region, "ba_rows": before.height,
            "read_latest_s": read_s["latest"], "read_as_of_s": read_s["as of"], **size(lake, where)}


def revised_hours() -> Any:
    """The hours the revision changes: one in ``REVISED_EVERY``, counted from the epoch."""
    import polars as pl

    return (pl.col("ts").dt.epoch("s") // 3600) % REVISED_EVERY == 0


def check_reads(where: str, before: Any, latest: Any, then: Any) -> None:
    """The read as of before the revision equals the read made then; the latest one differs exactly in
    the revised hours that hold a value."""
    import polars as pl

    key = ["ts", "series"]
    if not then.sort(key).equals(before.sort(key)):
        sys.exit(f"{where}: the read as of before the revision differs from the read made before it")
    revised = revised_hours()
    joined = before.join(latest, on=key, how="full", coalesce=True, suffix="_latest")
    expected = before.filter(revised & pl.col("value").is_not_null()).height
    differing = joined.filter(pl.col("value").ne_missing(pl.col("value_latest")))
    if differing.height != expected or not differing.filter(~revised).is_empty() or expected == 0:
        sys.exit(f"{where}: the latest read differs from the first in {differing.height} hours; "
                 f"{expected} were revised")


def size(lake: Any, where: str) -> dict:
    """Commits, live data files and their bytes, rows stored (every revision); on a local folder, everything
    on disk too."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

    commits = files = live_bytes = 0
    for name in lake.datasets():
        table = lake.table(name)
        commits += table.version() + 1
        actions = pa.table(table.get_add_actions(flatten=True))
        files += actions.num_rows
        live_bytes += int(pc.sum(actions["size_bytes"]).as_py() or 0)
    stored = lake.revisions().select(pl.len()).collect().item()
    result = {"tables": len(lake.datasets()), "commits": commits, "live_files": files, "live_bytes": live_bytes,
              "stored_rows": stored}
    if "://" not in where:
        on_disk = [p for p in Path(lake.root).rglob("*") if p.is_file()]
        result |= {"disk_files": len(on_disk), "disk_bytes": sum(p.stat().st_size for p in on_disk),
                   "log_files": sum(1 for p in on_disk if p.parent.name == "_delta_log")}
    return result


# -- the whole benchmark ---------------------------------------------------------------------------------------


def child(mode: str, data: Path, where: str = "", env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--mode", mode, "--data", str(data), "--where", where],
                         capture_output=True, text=True, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        sys.exit(f"the {mode} path failed:\n{out.stdout}{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def on_loopback_s3(scratch: Path, action: Callable[[str, dict[str, str]], dict]) -> dict:
    """Run ``action(home_uri, env)`` against a fresh bucket on moto's S3 server on 127.0.0.1."""
    import logging

    import httpx
    from moto.server import ThreadedMotoServer

    from energy_core.home import LOCAL_HOME_VARIABLE

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        httpx.put(f"{endpoint}/lake-bench").raise_for_status()
        env = {"AWS_ACCESS_KEY_ID": "loopback-access-key", "AWS_SECRET_ACCESS_KEY": "loopback-secret-key",
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
               LOCAL_HOME_VARIABLE: str(scratch / "s3-local")}
        return action("s3://lake-bench/home", env)
    finally:
        server.stop()


def run(data: Path) -> dict:
    load = os.getloadavg()
    results = {"decode": child("decode", data), "pipeline": child("pipeline", data)}
    with tempfile.TemporaryDirectory() as scratch:
        results["local"] = child("target", data, str(Path(scratch) / "home"))
        results["s3"] = on_loopback_s3(Path(scratch), lambda uri, env: child("target", data, uri, env))
    rows = {mode: r["rows"] for mode, r in results.items()}
    if len(set(rows.values())) != 1:
        sys.exit(f"checks failed: the paths ended with different numbers of rows: {rows}")
    size_bytes = sum((data / entry["file"]).stat().st_size for entry in pages(data))
    return {"input": {"covers": read_manifest(data)["covers"], "pages": len(pages(data)), "bytes": size_bytes},
            "load_average": {"before": load, "after": os.getloadavg()}, "paths": results}


def report(result: dict) -> None:
    paths, covers = result["paths"], result["input"]["covers"]
    decode = paths["decode"]
    print(f"input: {result['input']['pages']} pages, {result['input']['bytes'] / 1e6:.1f} MB of JSON, "
          f"{', '.join(covers['regions'])}, {covers['start'][:10]} to {covers['end'][:10]}")
    print("load average (1, 5, 15 min): before " + " ".join(f"{x:.2f}" for x in result["load_average"]["before"])
          + ", after " + " ".join(f"{x:.2f}" for x in result["load_average"]["after"]))
    print("\n| ingest | rows | seconds | rows/s | x decode limit |\n|---|---|---|---|---|")
    print(f"| decode limit | {decode['rows']:,} | {decode['seconds']:.2f} | {decode['rows_per_s']:,.0f} | 1.00 |")
    bare = paths["pipeline"]
    print(f"| no store: parse -> normalize -> validate | {bare['rows']:,} | {bare['seconds']:.2f} | "
          f"{bare['rows_per_s']:,.0f} | {bare['rows_per_s'] / decode['rows_per_s']:.2f} |")
    for name in ("local", "s3"):
        r = paths[name]
        print(f"| {name} lake | {r['rows']:,} | {r['ingest_s']:.2f} | {r['rows_per_s']:,.0f} | "
              f"{r['rows_per_s'] / decode['rows_per_s']:.2f} |")
    print("\n| revision (Lake.upsert) | rows | changed | months | commits | seconds |\n|---|---|---|---|---|---|")
    for name in ("local", "s3"):
        r = paths[name]
        print(f"| {name} | {r['revision_rows']:,} | {r['revision_changed']:,} | {r['revision_months']} | "
              f"{r['revision_commits']} | "
              f"{r['revision_s']:.2f} |")
    print(f"\n| read one BA-year ({paths['local']['ba']}, eia.region), median of {READS} | rows | latest s | "
          "as of s | as of / latest |\n|---|---|---|---|---|")
    for name in ("local", "s3"):
        r = paths[name]
        now, then = statistics.median(r["read_latest_s"]), statistics.median(r["read_as_of_s"])
        print(f"| {name} | {r['ba_rows']:,} | {now:.3f} | {then:.3f} | {then / now:.2f} |")
    print("\n| store | rows (every revision) | tables | commits | live files | live MB | files on disk | MB on disk |\n"
          "|---|---|---|---|---|---|---|---|")
    for name in ("local", "s3"):
        r = paths[name]
        disk = (f"{r['disk_files']} ({r['log_files']} in _delta_log) | {r['disk_bytes'] / 1e6:.2f}"
                if "disk_files" in r else "n/a | n/a")
        print(f"| {name} | {r['stored_rows']:,} | {r['tables']} | {r['commits']} | {r['live_files']} | "
              f"{r['live_bytes'] / 1e6:.2f} | {disk} |")
    print(f"\nchecks passed: every path stored the {decode['rows']:,} rows of the pages, and the reads as of before "
          "the revision equal the reads made before it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=CACHE, help="where the generated pages live")
    parser.add_argument("--smoke", action="store_true", help="3 days of PACW, generated in a temporary folder")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--mode", choices=["decode", "pipeline", "target"], help=argparse.SUPPRESS)
    parser.add_argument("--where", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode in ("decode", "pipeline"):
        started: list[float] = []
        rows = run_decode(args.data, started) if args.mode == "decode" else ingest(args.data, None, started)
        seconds = time.perf_counter() - started[0]
        print(json.dumps({"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}))
        return
    if args.mode == "target":
        print(json.dumps(measure_target(args.data, args.where)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        data, covered = (Path(scratch) / "pages", coverage(*SMOKE)) if args.smoke else (args.data, coverage(*YEAR))
        if read_manifest(data).get("covers") != covered:
            generate(data, covered)
        result = run(data)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
