"""Multi-year training (issue 21): a forecaster per BA trained on January to October 2019 against one
trained on July 2015 to October 2019, both validated on November 2019 (the epoch with the lowest
validation loss is kept) and scored on December 2019 against the better seasonal-naive baseline
(24-hour-ahead MAPE, back-to-back forecasts issued at 00:00 UTC).

    uv run python benchmarks/multiyear.py [--entities PACW ERCO ISNE] [--seeds 0 1 2] [--epochs 15]
    uv run python benchmarks/multiyear.py --smoke    # a planted series, a tiny model: seconds

Data: ``../shared/real/eia930_multi/eia930_D_DF_6ba_2015_2019.parquet``, demand (``D``) only, so the
features are demand and the calendar. Its rows are written straight into the processed store as the
EIA normalizer stores them (``ts`` = the hour-ending ``timestamp_utc`` less one hour; dataset
``eia.region``, series ``demand``), which is all that a replay through the EIA simulator's table mode
changes (``real_eia930.py`` checks that equality for 2019); writing directly spares four and a half
years of paging. The "2019" span is the rows whose hour ends in 2019, as ``real_eia930.py`` stores it.
Each span then goes through the quality checks (the feature build masks what they flag) and the
feature build. ``--smoke`` plants three and a half years of hourly demand instead (a daily and weekly
cycle, a trend, a few gross spikes) and needs nothing outside the repository.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

RECORDED = (Path(__file__).resolve().parents[1].parent / "shared" / "real" / "eia930_multi"
            / "eia930_D_DF_6ba_2015_2019.parquet")
HOME = Path(__file__).parent / ".cache" / "multiyear"
VAL_START, TEST_START = datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 1, tzinfo=UTC)
SPANS = {"2019": datetime(2018, 12, 31, 23, tzinfo=UTC), "2015-2019": datetime(2015, 1, 1, tzinfo=UTC)}
"""Each span's first interval start: the hour ending 2019-01-01 00:00 UTC, and everything recorded."""


@dataclass(frozen=True)
class Size:
    seq_len: int
    d_model: int
    n_layers: int
    n_heads: int
    batch_size: int
    epochs: int
    learning_rate: float
    stride: int = 24
    """Hours between training windows' issue times (24: one a day)."""
    relative_loss: bool = False
    """Train on the relative error (see ``TrainConfig.relative_loss``)."""


def canonical(frame: pl.DataFrame, series: str = "demand") -> pl.DataFrame:
    """(ts, region, value) rows of an EIA-930 region series as the processed store's canonical rows."""
    from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA

    return (frame.select("ts", "region", "value", source=pl.lit("eia"), dataset=pl.lit("eia.region"),
                         series=pl.lit(series), unit=pl.lit("MWh"),
                         retrieved_at=pl.lit(datetime(2020, 10, 14, tzinfo=UTC)))
            .cast(POLARS_SCHEMA).select(COLUMNS))


def recorded(entities: list[str]) -> pl.DataFrame:
    """The recorded demand of ``entities``, hour-ending timestamps turned into interval starts."""
    if not RECORDED.exists():
        raise SystemExit(f"recorded data not found at {RECORDED}; run with --smoke for a planted series")
    frame = (pl.read_parquet(RECORDED).filter(pl.col("type") == "D", pl.col("region").is_in(entities))
             .select(ts=pl.col("timestamp_utc") - pl.duration(hours=1), region="region", value="value_mw"))
    return canonical(frame)


def planted(entity: str = "ERCO", seed: int = 0) -> pl.DataFrame:
    """Hourly demand from 2016-06-30 05:00 UTC (not a midnight, as the recorded BAs start) to the end of
    2019: a daily cycle in local time (UTC-6), weekends 20% lower, 4% growth a year, noise, and six
    spikes of 30 times the demand in the training years."""
    start, end = datetime(2016, 6, 30, 5, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)
    hours = np.arange(int((end - start).total_seconds() // 3600))
    local = hours + start.hour - 6
    weekend = ((local // 24 + start.weekday()) % 7) >= 5
    rng = np.random.default_rng(seed)
    demand = (1000 * (1 + 0.04 * hours / 8766) * (1 + 0.25 * np.sin(2 * np.pi * (local % 24 - 9) / 24))
              * np.where(weekend, 0.8, 1.0) + rng.normal(0, 10, hours.size))
    demand[rng.choice(hours.size - 24 * 400, 6, replace=False)] *= 30
    ts = [start + timedelta(hours=int(h)) for h in hours]
    return canonical(pl.DataFrame({"ts": ts, "region": entity, "value": demand.round()}))


def prepare(home: Path, rows: pl.DataFrame, first: datetime, entities: list[str]) -> None:
    """Store ``rows`` from ``first`` on, run the quality checks (their flagged hours become gaps) and build."""
    from energy_core import Lake
    from energy_core.features import FeatureStore, Splits
    from energy_core.ops import quality

    Lake(home).upsert(rows.filter(pl.col("ts") >= first))
    flags = quality.check(home)
    quality.save(flags, home)
    masked = flags.filter(pl.col("check").is_in(quality.MASKED_CHECKS))
    per_region = masked.group_by("region").agg(pl.col("hours").sum()).sort("region").iter_rows()
    print(f"{home.name}: quality masks {masked['hours'].sum()} hours "
          f"({', '.join(f'{r}: {h}' for r, h in per_region)})", flush=True)
    FeatureStore(home).build(entities, splits=Splits(VAL_START, TEST_START))


def run_one(home: Path, entity: str, seed: int, size: Size) -> dict:
    from energy_core.features import FeatureStore
    from energy_core.ml import TrainConfig, evaluate, train
    from energy_core.ml.evaluate import against_best_baseline

    store = FeatureStore(home)
    config = TrainConfig(entity=entity, seq_len=size.seq_len, stride=size.stride, epochs=size.epochs,
                         batch_size=size.batch_size, d_model=size.d_model, n_heads=size.n_heads,
                         n_layers=size.n_layers, learning_rate=size.learning_rate, seed=seed,
                         relative_loss=size.relative_loss)
    folder = home / "models" / f"{entity}-seed{seed}"
    started = time.perf_counter()
    state = train(store, config, folder, progress=lambda line: print(f"  {home.name} {entity} {line}", flush=True))
    seconds = time.perf_counter() - started
    scores = evaluate(store, folder, split="test")
    best, gain = against_best_baseline(scores)
    best_record = state.history[state.best_epoch - 1] if state.best_epoch else state.history[-1]
    return {"entity": entity, "seed": seed, "model": scores["model"].mape, "baseline": best,
            "baseline_mape": scores[best].mape, "gain": gain, "hours": scores["model"].hours,
            "yesterday": scores["same hour yesterday"].mape, "last_week": scores["same hour last week"].mape,
            "best_epoch": state.best_epoch, "train_loss": best_record["train_loss"],
            "val_loss": best_record["val_loss"], "train_seconds": seconds}


def table(results: dict[str, list[dict]], entities: list[str]) -> str:
    """One row per BA and span (means over seeds), then the verdict per BA."""
    lines = ["| BA | trained on | model MAPE (seeds) | better baseline | gain | train / val loss at the kept epoch "
             "| train s |", "|---|---|---|---|---|---|---|"]
    verdicts = []
    for entity in entities:
        means = {}
        for span, rows in results.items():
            mine = [r for r in rows if r["entity"] == entity]
            if not mine:
                continue
            means[span] = statistics.mean(r["model"] for r in mine)
            seeds = ", ".join(f"{r['model']:.2f}" for r in mine)
            first = mine[0]
            losses = (f"{statistics.mean(r['train_loss'] for r in mine):.3f} / "
                      f"{statistics.mean(r['val_loss'] for r in mine):.3f}")
            lines.append(
                f"| {entity} | {span} | {means[span]:.2f}% ({seeds}) | {first['baseline']} "
                f"{first['baseline_mape']:.2f}% | {statistics.mean(r['gain'] for r in mine):+.1f}% | {losses} "
                f"| {statistics.mean(r['train_seconds'] for r in mine):.0f} |")
        if len(means) == 2:
            short, long = means.values()
            verdicts.append(f"{entity}: {'at least as good' if long <= short else 'WORSE'} with more data "
                            f"({long:.2f}% against {short:.2f}%)")
    return "\n".join([*lines, "", *verdicts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", nargs="+", default=["PACW", "ERCO", "ISNE"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="Initial weights and batch order.")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seq-len", type=int, default=168)
    parser.add_argument("--stride", type=int, default=24,
                        help="Hours between training windows (168: one a week, so that long contexts can be "
                             "compared on the same windows on a small CPU).")
    parser.add_argument("--spans", nargs="+", choices=list(SPANS), default=list(SPANS),
                        help="Which training spans to run.")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--relative-loss", action="store_true",
                        help="Train on the relative error, as the backtest does.")
    parser.add_argument("--home", type=Path, default=HOME, help="Where the stores and models go (one per span).")
    parser.add_argument("--json", type=Path, help="Also write every run's scores here.")
    parser.add_argument("--smoke", action="store_true", help="A planted series and a tiny model, in a temporary "
                        "folder: checks that the comparison runs end to end (seconds).")
    args = parser.parse_args()

    if args.smoke:
        entities, seeds = ["ERCO"], [0]
        size = Size(seq_len=72, d_model=16, n_layers=1, n_heads=2, batch_size=8, epochs=3, learning_rate=1e-3)
        spans = {"2019": datetime(2019, 1, 1, tzinfo=UTC), "2016-2019": datetime(2016, 1, 1, tzinfo=UTC)}
        scratch = tempfile.TemporaryDirectory()
        home, rows = Path(scratch.name), planted()
    else:
        entities, seeds = args.entities, args.seeds
        size = Size(seq_len=args.seq_len, d_model=args.d_model, n_layers=args.layers, n_heads=4, batch_size=8,
                    epochs=args.epochs, learning_rate=args.lr, stride=args.stride, relative_loss=args.relative_loss)
        spans, home, rows = {span: SPANS[span] for span in args.spans}, args.home, recorded(args.entities)
    results: dict[str, list[dict]] = {}
    for span, first in spans.items():
        folder = home / span
        if folder.exists():
            import shutil

            shutil.rmtree(folder)  # a fresh store and models for every run
        prepare(folder, rows, first, entities)
        results[span] = [run_one(folder, entity, seed, size) for entity in entities for seed in seeds]
        for r in results[span]:
            print(f"{span} {r['entity']} seed {r['seed']}: model {r['model']:.2f}%, yesterday {r['yesterday']:.2f}%, "
                  f"last week {r['last_week']:.2f}%; {r['gain']:+.1f}% against the better baseline "
                  f"({r['hours']} hours, best epoch {r['best_epoch']}, {r['train_seconds']:.0f} s)", flush=True)
    print(table(results, entities))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
