"""Monitor benchmark: what one ``energy monitor`` costs on a large home, to show it can run every few minutes.

A home holds hourly EIA-930 region data (4 series) for many balancing authorities over years, up to
the current hour, with quality flags. ``energy monitor`` then runs as cron would run it (a fresh
process, objectives from ``energy.toml``: every region's demand no older than 3 hours and no gap over 2
hours), three times: all objectives hold; one region's last day and 8 hours of the day before are
gone (its freshness and completeness incidents fire); they are back (they resolve). Reported: each
command's wall time, the check's own time and the peak memory of the process.

    uv run python benchmarks/monitor.py              # 60 BAs x 5 years: 10.5 million rows
    uv run python benchmarks/monitor.py --smoke      # 3 BAs x 20 days; the tests run it

Every run checks the exit statuses (0, 1, 0), the incidents that fired and resolved, and exits
non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SERIES = ("demand", "demand_forecast", "net_generation", "interchange")


@dataclass(frozen=True)
class Size:
    regions: int
    days: int


FULL = Size(regions=60, days=5 * 365)
SMOKE = Size(regions=3, days=20)


def build(home: Path, size: Size) -> tuple[int, list[str]]:
    """Store the data (by year, one upsert each) and a quality flag; return the rows and the regions."""
    import numpy as np
    import polars as pl

    from energy_core.storage.flags import FLAG_SCHEMA, save
    from energy_core.storage.lake import Lake
    from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

    regions = [f"BA{i:02d}" for i in range(size.regions)]
    store, rows = Lake(home), 0
    start = NOW - timedelta(days=size.days)
    rng = np.random.default_rng(0)
    chunk = start
    while chunk < NOW:
        end = min(chunk + timedelta(days=366), NOW)
        ts = pl.datetime_range(chunk, end - timedelta(hours=1), "1h", time_zone="UTC", eager=True)
        frame = pl.DataFrame({"ts": ts}).join(pl.DataFrame({"region": regions}), how="cross").join(
            pl.DataFrame({"series": SERIES}), how="cross")
        frame = frame.with_columns(
            source=pl.lit("eia"), dataset=pl.lit("eia.region"), unit=pl.lit("MWh"), retrieved_at=pl.lit(NOW),
            value=pl.Series(rng.normal(1000, 50, frame.height))).cast(POLARS_SCHEMA).select(COLUMNS)
        store.upsert(frame)
        rows += frame.height
        chunk = end
    flag_end = NOW - timedelta(days=30)
    save(pl.DataFrame([{"check": "stuck", "dataset": "eia.region", "region": regions[0], "series": "demand",
                        "start": flag_end - timedelta(hours=30), "end": flag_end, "hours": 31,
                        "detail": "value 1000.0 repeated"}], schema=FLAG_SCHEMA), home)
    return rows, regions


def damage(home: Path, region: str) -> pl.DataFrame:
    """Delete ``region``'s last day and 8 hours of the day before from the store (a Delta delete: a new
    version of the table); return the rows deleted."""
    import polars as pl

    from energy_core.storage.lake import Lake

    lake = Lake(home)
    start, gap = NOW - timedelta(days=1), (NOW - timedelta(hours=48), NOW - timedelta(hours=40))
    gone = (pl.col("region") == region) & ((pl.col("ts") >= start) | pl.col("ts").is_between(*gap, closed="left"))
    kept, rows = lake.scan("eia.region").filter(gone).collect(), lake.scan("eia.region").select(pl.len()).collect()
    table = lake.table("eia.region")
    assert table is not None
    table.delete(f"region = '{region}' AND (ts >= '{start.isoformat()}' OR (ts >= '{gap[0].isoformat()}' "
                 f"AND ts < '{gap[1].isoformat()}'))")
    left = lake.scan("eia.region").select(pl.len()).collect().item()
    if kept.height != 32 * len(SERIES) or left != rows.item() - kept.height:
        sys.exit(f"the delete took {rows.item() - left} rows, not the {kept.height} meant")
    return kept


def repair(home: Path, kept: pl.DataFrame) -> None:
    """Store the deleted rows again, as the next fetch would."""
    from energy_core.storage.lake import Lake

    Lake(home).upsert(kept)


def monitor(home: Path, config: Path) -> tuple[int, float, dict, float]:
    """``energy monitor --json`` in a fresh process: exit status, wall seconds, report, peak RSS (MiB)."""
    code = ("import re, sys; from energy_core.cli import main\n"  # VmHWM: this process's peak since its exec
            "try:\n    main(sys.argv[1:])\nfinally:\n"
            "    hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())\n"
            "    print(int(hwm.group(1)) / 1024 if hwm else float('nan'), file=sys.stderr)")
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, "--config", str(config), "monitor", "--json",
                             "--home", str(home)], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    peak = float(result.stderr.strip().splitlines()[-1])
    return result.returncode, seconds, json.loads(result.stdout), peak


def check_seconds(home: Path, regions: list[str]) -> float:
    """The check alone (``check()``, no alerters), in this process, after a first one warmed the imports."""
    from energy_core.ops.monitor import MonitorSettings, Objective, check

    settings = MonitorSettings(objectives=(Objective("eia.region", (), "demand", max_age=timedelta(hours=3),
                                                     max_gap=timedelta(hours=2)),))
    check(home, settings, [])
    began = time.perf_counter()
    report = check(home, settings, [])
    assert report.ok and len(report.checks) == 2 * len(regions), report.failures
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="3 BAs x 20 days, for the test suite")
    size = SMOKE if parser.parse_args().smoke else FULL
    with tempfile.TemporaryDirectory(prefix="energy-monitor-bench-") as tmp:
        home, config = Path(tmp) / "home", Path(tmp) / "energy.toml"
        began = time.perf_counter()
        rows, regions = build(home, size)
        built = time.perf_counter() - began
        config.write_text('[[monitor.objectives]]\ndataset = "eia.region"\nseries = "demand"\nmax_age = "3h"\n'
                          'max_gap = "2h"\n')
        print(f"home: {size.regions} BAs x {size.days} days, {rows:,} rows, written in {built:.1f} s")
        runs = []
        status, seconds, report, peak = monitor(home, config)
        runs.append(("all objectives hold", status, seconds, report, peak))
        kept = damage(home, regions[-1])
        status, seconds, report, peak = monitor(home, config)
        runs.append((f"{regions[-1]}: last day and 8 h gone", status, seconds, report, peak))
        repair(home, kept)
        status, seconds, report, peak = monitor(home, config)
        runs.append(("they are back", status, seconds, report, peak))
        print("| `energy monitor` | exit | checks | fired | resolved | wall s | peak MiB |")
        print("|---|---|---|---|---|---|---|")
        for name, status, seconds, report, peak in runs:
            print(f"| {name} | {status} | {len(report['checks'])} | {len(report['fired'])} | "
                  f"{len(report['resolved'])} | {seconds:.2f} | {peak:.0f} |")
        alone = check_seconds(home, regions)
        print(f"check() alone, in a warm process: {alone:.2f} s")
        subject = f"eia.region {regions[-1]} demand"
        expected = [(0, [], []), (1, [("freshness", subject), ("completeness", subject)], []),
                    (0, [], [("freshness", subject), ("completeness", subject)])]
        got = [(status, sorted((a["kind"], a["subject"]) for a in report["fired"]),
                sorted((a["kind"], a["subject"]) for a in report["resolved"])) for _, status, _, report, _ in runs]
        if got != [(s, sorted(f), sorted(r)) for s, f, r in expected]:
            sys.exit(f"unexpected outcomes: {got}")
    print("checks passed: the objectives held, the missing hours fired two incidents and they resolved")


if __name__ == "__main__":
    main()
