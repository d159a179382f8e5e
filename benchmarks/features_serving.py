"""Serving benchmark: training windows and the live context from the feature store.

An entity of 4 years x 64 features (57 stored series + 7 calendar features) is built through the
real path (processed store -> fusion -> LanceDB + Parquet). Then, each in a fresh process:

  energy  get_training_sequences(seq_len=8760, stride=24, batch_size=8): views until MLX
  peer    the same windows, each copied with numpy before stacking and handing to MLX
  limit   one memcpy of the same number of bytes per batch, nothing else

and the latency of get_real_time_context(168 h) from LanceDB and from the Parquet export.

    uv run python benchmarks/features_serving.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HOME = Path(__file__).parent / ".cache" / "features_home"
SEQ_LEN, STRIDE, BATCH, SERIES = 8760, 24, 8, 57
START = datetime(2020, 1, 1, tzinfo=UTC)
HOURS = 4 * 8766


def build(home: Path) -> None:
    import numpy as np
    import polars as pl

    from energy_core.features import FeatureStore
    from energy_core.storage.parquet import ParquetStore
    from energy_core.storage.schema import POLARS_SCHEMA

    rng = np.random.default_rng(0)
    ts = pl.datetime_range(START, START + timedelta(hours=HOURS - 1), "1h", time_zone="UTC", eager=True)
    store = ParquetStore(home / "processed")
    for k in range(SERIES):
        values = 1000 + 100 * np.sin(np.arange(HOURS) * 2 * np.pi / 24 + k) + rng.normal(0, 10, HOURS)
        series = "demand" if k == 0 else f"gen.s{k:02d}"
        store.upsert(pl.DataFrame({"ts": ts, "source": "eia", "dataset": "eia.region", "region": "BENCH",
                                   "series": series, "value": values, "unit": "MWh",
                                   "retrieved_at": datetime(2025, 1, 1, tzinfo=UTC)}, schema=POLARS_SCHEMA))
    info = FeatureStore(home).build(["BENCH"])[0]
    print(f"built BENCH: {info.rows} hours x {len(info.features)} features", file=sys.stderr)


def rss() -> int:
    """Resident memory now (Linux), so growth while serving is measured, not the import-time peak."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def run_mode(mode: str, home: Path) -> dict:
    import mlx.core as mx
    import numpy as np

    from energy_core.features import FeatureStore
    from energy_core.features.serving import normalized, window_starts

    store = FeatureStore(home)
    info, ts, values, mask = store.arrays("BENCH")
    baseline = rss()
    peak = baseline
    started = time.perf_counter()
    windows = 0
    if mode == "energy":
        for batch in store.get_training_sequences("BENCH", seq_len=SEQ_LEN, stride=STRIDE, split="all",
                                                  batch_size=BATCH):
            mx.eval(batch.x, batch.mask, batch.target)
            windows += batch.x.shape[0]
            peak = max(peak, rss())
    else:
        data = normalized(info, values, mask, list(range(len(info.features))))
        starts = window_starts(info, ts, "all", SEQ_LEN, 24, STRIDE)
        source = np.ones((BATCH, SEQ_LEN, data.shape[1] * 5 // 4), dtype=np.float32)  # a batch's bytes
        scratch = np.empty_like(source)
        for i in range(0, len(starts), BATCH):
            rows = starts[i: i + BATCH]
            if mode == "peer":  # a plain copy of every window (values and mask), stacked, handed to MLX
                x = mx.array(np.stack([np.array(data[s: s + SEQ_LEN]) for s in rows]))
                m = mx.array(np.stack([np.array(mask[s: s + SEQ_LEN]) for s in rows]))
                mx.eval(x, m)
            else:  # the limit: one memcpy of the same number of bytes
                np.copyto(scratch[: len(rows)], source[: len(rows)])
            windows += len(rows)
            peak = max(peak, rss())
    seconds = time.perf_counter() - started
    return {"mode": mode, "windows": windows, "seconds": seconds, "windows_per_s": windows / seconds,
            "peak_rss": peak, "rss_growth": peak - baseline,
            "entity_bytes": values.nbytes + mask.nbytes,
            "batch_bytes": BATCH * SEQ_LEN * len(info.features) * 5}


def run_context(home: Path) -> dict:
    import statistics

    from energy_core.features import FeatureStore

    store = FeatureStore(home)
    result = {}
    for source in ("lancedb", "parquet"):
        store.get_real_time_context("BENCH", 168, source=source)  # warm up
        times = []
        for _ in range(30):
            started = time.perf_counter()
            store.get_real_time_context("BENCH", 168, source=source)
            times.append(time.perf_counter() - started)
        result[source] = statistics.median(times)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["energy", "peer", "limit", "context"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_context(HOME) if args.mode == "context" else run_mode(args.mode, HOME)))
        return
    if not (HOME / "features").exists():
        build(HOME)
    results = {}
    for mode in ("energy", "peer", "limit", "context"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode], check=True, capture_output=True, text=True)
        results[mode] = json.loads(out.stdout)
    e = results["energy"]
    print(f"entity: {HOURS} hours x 64 features = {e['entity_bytes'] / 2**20:.1f} MiB (values + mask); "
          f"one batch of {BATCH} x {SEQ_LEN} h = {e['batch_bytes'] / 2**20:.1f} MiB")
    print("| path | windows | seconds | windows/s | peak RSS while serving | growth over the loaded entity |\n"
          "|---|---|---|---|---|---|")
    for mode in ("energy", "peer", "limit"):
        r = results[mode]
        print(f"| {mode} | {r['windows']} | {r['seconds']:.2f} | {r['windows_per_s']:,.0f} | "
              f"{r['peak_rss'] / 2**20:.0f} MiB | {r['rss_growth'] / 2**20:.0f} MiB |")
    c = results["context"]
    print(f"get_real_time_context(168 h): LanceDB {c['lancedb'] * 1e3:.1f} ms, Parquet {c['parquet'] * 1e3:.1f} ms "
          "(median of 30)")


if __name__ == "__main__":
    main()
