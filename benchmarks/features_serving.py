"""Serving benchmark: training windows and the live context from the feature store.

An entity of 4 years x 64 features (57 stored series + 7 calendar features) is built through the
real path (processed store -> fusion -> LanceDB + Parquet). Then, each in a fresh process:

  energy  get_training_sequences(seq_len=8760, stride=24, batch_size=8): views until MLX
  peer    the same windows, each copied with numpy before stacking and handing to MLX
  limit   one memcpy of the same number of bytes per batch, nothing else

and the latency of get_real_time_context(168 h) from LanceDB and from the Parquet export.

    uv run python benchmarks/features_serving.py
    uv run python benchmarks/features_serving.py --smoke   # 40 days x 4 series, 168-hour windows; the tests run it

Every run checks that the three paths served the same windows and that LanceDB and the Parquet export
give the same context, and exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HOME = Path(__file__).parent / ".cache" / "features_home"
STRIDE, BATCH, LOOKBACK = 24, 8, 168
START = datetime(2020, 1, 1, tzinfo=UTC)
ENTITY = "PACW"
"""A real BA code, so the entity gets its own time zone; the data is synthetic."""


@dataclass(frozen=True)
class Size:
    hours: int
    series: int
    seq_len: int


FULL = Size(hours=4 * 8766, series=57, seq_len=8760)
SMOKE = Size(hours=40 * 24, series=4, seq_len=168)


def build(home: Path, size: Size) -> None:
    import numpy as np
    import polars as pl

    from energy_core.features import FeatureStore
    from energy_core.storage.lake import Lake
    from energy_core.storage.schema import POLARS_SCHEMA

    rng = np.random.default_rng(0)
    ts = pl.datetime_range(START, START + timedelta(hours=size.hours - 1), "1h", time_zone="UTC", eager=True)
    frames = []
    for k in range(size.series):
        values = 1000 + 100 * np.sin(np.arange(size.hours) * 2 * np.pi / 24 + k) + rng.normal(0, 10, size.hours)
        series = "demand" if k == 0 else f"gen.s{k:02d}"
        frames.append(pl.DataFrame({"ts": ts, "source": "eia", "dataset": "eia.region", "region": ENTITY,
                                    "series": series, "value": values, "unit": "MWh",
                                    "retrieved_at": datetime(2025, 1, 1, tzinfo=UTC)}, schema=POLARS_SCHEMA))
    Lake(home).upsert(pl.concat(frames))  # one commit per month
    info = FeatureStore(home).build([ENTITY])[0]
    print(f"built {ENTITY}: {info.rows} hours x {len(info.features)} features", file=sys.stderr)


def rss() -> int:
    """Resident memory now (Linux), so growth while serving is measured, not the import-time peak."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def run_mode(mode: str, home: Path, size: Size) -> dict:
    import mlx.core as mx
    import numpy as np

    from energy_core.features import FeatureStore
    from energy_core.features.serving import normalized, window_starts

    store = FeatureStore(home)
    info, ts, values, mask = store.arrays(ENTITY)
    baseline = rss()
    peak = baseline
    started = time.perf_counter()
    windows = 0
    if mode == "energy":
        for batch in store.get_training_sequences(ENTITY, seq_len=size.seq_len, stride=STRIDE, split="all",
                                                  batch_size=BATCH):
            mx.eval(batch.x, batch.mask, batch.target)
            windows += batch.x.shape[0]
            peak = max(peak, rss())
    else:
        data = normalized(info, values, mask, list(range(len(info.features))))
        starts = window_starts(info, ts, "all", size.seq_len, 24, STRIDE)
        source = np.ones((BATCH, size.seq_len, data.shape[1] * 5 // 4), dtype=np.float32)  # a batch's bytes
        scratch = np.empty_like(source)
        for i in range(0, len(starts), BATCH):
            rows = starts[i: i + BATCH]
            if mode == "peer":  # a plain copy of every window (values and mask), stacked, handed to MLX
                x = mx.array(np.stack([np.array(data[s: s + size.seq_len]) for s in rows]))
                m = mx.array(np.stack([np.array(mask[s: s + size.seq_len]) for s in rows]))
                mx.eval(x, m)
            else:  # the limit: one memcpy of the same number of bytes
                np.copyto(scratch[: len(rows)], source[: len(rows)])
            windows += len(rows)
            peak = max(peak, rss())
    seconds = time.perf_counter() - started
    return {"mode": mode, "windows": windows, "seconds": seconds, "windows_per_s": windows / seconds,
            "peak_rss": peak, "rss_growth": peak - baseline,
            "entity_bytes": values.nbytes + mask.nbytes, "features": len(info.features),
            "batch_bytes": BATCH * size.seq_len * len(info.features) * 5}


def run_context(home: Path) -> dict:
    import statistics

    import numpy as np

    from energy_core.features import FeatureStore

    store = FeatureStore(home)
    result: dict = {}
    contexts = {}
    for source in ("lancedb", "parquet"):
        contexts[source] = store.get_real_time_context(ENTITY, LOOKBACK, source=source)  # also the warm-up
        times = []
        for _ in range(30):
            started = time.perf_counter()
            store.get_real_time_context(ENTITY, LOOKBACK, source=source)
            times.append(time.perf_counter() - started)
        result[source] = statistics.median(times)
    lance, parquet = contexts["lancedb"], contexts["parquet"]
    result["hours"] = {source: int(context.x.shape[1]) for source, context in contexts.items()}
    result["same"] = bool(np.array_equal(np.array(lance.x), np.array(parquet.x), equal_nan=True)
                          and np.array_equal(np.array(lance.mask), np.array(parquet.mask))
                          and np.array_equal(lance.timestamps, parquet.timestamps))
    return result


def failures(results: dict) -> list[str]:
    """What every run insists on: all paths served the same windows, and both context sources agree."""
    found = []
    windows = {mode: results[mode]["windows"] for mode in ("energy", "peer", "limit")}
    if len(set(windows.values())) != 1 or not windows["energy"]:
        found.append(f"the paths served different numbers of windows: {windows}")
    context = results["context"]
    if set(context["hours"].values()) != {LOOKBACK}:
        found.append(f"the context should hold {LOOKBACK} hours, got {context['hours']}")
    if not context["same"]:
        found.append("LanceDB and the Parquet export gave different contexts")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="40 days x 4 series in a temporary folder, 168-h windows")
    parser.add_argument("--mode", choices=["energy", "peer", "limit", "context"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=HOME, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    if args.mode:
        print(json.dumps(run_context(args.home) if args.mode == "context" else run_mode(args.mode, args.home, size)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) if args.smoke else args.home
        if not (home / "features").exists() or ENTITY not in _built(home):
            build(home, size)
        report(home, size, ["--smoke"] if args.smoke else [])


def _built(home: Path) -> list[str]:
    from energy_core.features import FeatureStore

    return FeatureStore(home).entities()


def report(home: Path, size: Size, flags: list[str]) -> None:
    """Run each path in a fresh process, print the tables, and stop unless the checks pass."""
    results = {}
    for mode in ("energy", "peer", "limit", "context"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--home", str(home), *flags],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"the {mode} path failed:\n{out.stderr}")
        results[mode] = json.loads(out.stdout)
    e = results["energy"]
    print(f"entity: {size.hours} hours x {e['features']} features = {e['entity_bytes'] / 2**20:.1f} MiB "
          f"(values + mask); one batch of {BATCH} x {size.seq_len} h = {e['batch_bytes'] / 2**20:.1f} MiB")
    print("| path | windows | seconds | windows/s | peak RSS while serving | growth over the loaded entity |\n"
          "|---|---|---|---|---|---|")
    for mode in ("energy", "peer", "limit"):
        r = results[mode]
        print(f"| {mode} | {r['windows']} | {r['seconds']:.2f} | {r['windows_per_s']:,.0f} | "
              f"{r['peak_rss'] / 2**20:.0f} MiB | {r['rss_growth'] / 2**20:.0f} MiB |")
    c = results["context"]
    print(f"get_real_time_context({LOOKBACK} h): LanceDB {c['lancedb'] * 1e3:.1f} ms, "
          f"Parquet {c['parquet'] * 1e3:.1f} ms (median of 30)")
    if found := failures(results):
        sys.exit("checks failed:\n" + "\n".join(found))
    print("checks passed: every path served the same windows; LanceDB and Parquet gave the same context")


if __name__ == "__main__":
    main()
