"""Real data: the 2019 EIA-930 year, replayed through the EIA simulator's table mode and the real
client into a store, checked by the quality rules (the feature build masks the flagged hours), fused,
then a forecaster per BA trained on January to October, validated on November and scored on December
against seasonal-naive baselines (24-hour-ahead MAPE).

    uv run python benchmarks/real_eia930.py [--entities PACW ERCO] [--epochs 15]
    uv run python benchmarks/real_eia930.py --smoke   # PACW, Oct to Dec, a tiny model, 1 epoch; the tests run it

Reads the recorded year from tests/data/eia930_2019/. Context: 7 days (168 hours), stride 24.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "eia930_2019" / "eia930_2019_6ba.parquet"
HOME = Path(__file__).parent / ".cache" / "real2019"
YEAR = (datetime(2018, 12, 31, 23, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
"""The recorded year in interval starts: its first period, 2019-01-01T00, ends the hour starting 2018-12-31 23:00."""
SMOKE_SPAN = (datetime(2019, 10, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", nargs="+", default=["PACW", "ERCO"])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seq-len", type=int, default=168)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="Initial weights and batch order.")
    parser.add_argument("--home", type=Path, default=HOME, help="Where the replayed store and models go.")
    parser.add_argument("--smoke", action="store_true",
                        help="PACW, October to December, a tiny model, 1 epoch, in a temporary folder.")
    args = parser.parse_args()
    if not args.smoke:
        replay_and_train(args, YEAR)
        return
    with tempfile.TemporaryDirectory() as scratch:
        args.entities, args.epochs, args.d_model, args.layers, args.home = ["PACW"], 1, 16, 1, Path(scratch)
        replay_and_train(args, SMOKE_SPAN)


def replay_and_train(args: argparse.Namespace, span: tuple[datetime, datetime]) -> None:
    """Replay ``span`` of the recorded year into ``args.home``, check it, build, train and score each entity
    (trained before November, validated on November, tested on December)."""
    from energy_core import Lake
    from energy_core.features import FeatureStore, Splits
    from energy_core.ingest.runner import RunConfig, run
    from energy_core.ml import TrainConfig, evaluate, train
    from energy_core.ml.evaluate import against_best_baseline
    from energy_core.ops import quality

    home = args.home
    if not REAL.exists():
        raise SystemExit(f"real data not found at {REAL}")
    report = run(RunConfig(sources=("eia",), start=span[0], end=span[1], home=home, regions=tuple(args.entities),
                           simulate=True, env={**os.environ, "ENERGY_EIA_SIMULATOR_TABLE": str(REAL)}))
    assert report.ok, report.failed
    check_replayed(Lake(home), args.entities, span)
    flags = quality.check(home)
    quality.save(flags, home)  # the build masks the flagged hours (the recorded year has demand spikes)
    print(quality.summary(flags.filter(pl.col("check").is_in(quality.MASKED_CHECKS))), flush=True)
    store = FeatureStore(home)
    store.build(args.entities, splits=Splits(datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 1, tzinfo=UTC)))
    results = {}
    for entity in args.entities:
        config = TrainConfig(entity=entity, seq_len=args.seq_len, stride=24, epochs=args.epochs, batch_size=8,
                             d_model=args.d_model, n_layers=args.layers, learning_rate=args.lr, seed=args.seed)
        started, folder = time.perf_counter(), home / "models" / f"{entity}-seed{args.seed}"
        train(store, config, folder, progress=lambda line, name=entity: print(f"{name} {line}", flush=True))
        scores = evaluate(store, folder, split="test")
        results[entity] = {name: s.__dict__ for name, s in scores.items()} | {
            "train_seconds": time.perf_counter() - started}
        _, gain = against_best_baseline(scores)
        print(f"{entity}: test MAPE model {scores['model'].mape:.2f}%, yesterday "
              f"{scores['same hour yesterday'].mape:.2f}%, last week {scores['same hour last week'].mape:.2f}%; "
              f"{gain:+.1f}% against the better baseline ({scores['model'].hours} hours)", flush=True)
    print(json.dumps(results, indent=2))


def check_replayed(store, entities: list[str], span: tuple[datetime, datetime]) -> None:
    """Stop unless the stored demand is the recorded year's within ``span``, value for value (hour-ending -> start)."""
    recorded = (pl.scan_parquet(REAL)
                .filter(pl.col("data_type") == "demand", pl.col("region").is_in(entities))
                .select("region", ts=pl.col("timestamp").dt.replace_time_zone("UTC") - pl.duration(hours=1),
                        recorded="value")
                .filter(pl.col("ts").is_between(*span, closed="left")))
    stored = (store.scan("eia.region").filter(pl.col("series") == "demand", pl.col("region").is_in(entities))
              .select("region", "ts", "value"))
    joined = recorded.join(stored, on=["region", "ts"], how="full", coalesce=True).collect()
    differing = joined.filter(pl.col("value").ne_missing(pl.col("recorded"))).height
    if differing:
        raise SystemExit(f"{differing} of {joined.height} stored demand hours differ from {REAL.name}: "
                         f"the replay did not store the recorded year")
    print(f"replayed: {joined.height} demand hours equal the recorded year's", flush=True)


if __name__ == "__main__":
    main()
