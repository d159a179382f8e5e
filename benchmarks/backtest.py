"""The multi-year backtest (issue 21): six BAs' forecasters trained on July 2015 to November 2018,
validated on December 2018, and scored on every month of 2019 with back-to-back 24-hour forecasts
issued at 00:00 UTC; once, and again with the model retrained each quarter from its last weights.
Each BA-month is scored against the better seasonal-naive baseline, a LightGBM peer trained on the
same months with the same information, and the BA's own day-ahead forecast (EIA-930 type DF).

    uv run python benchmarks/backtest.py [--entities PACW ERCO ...] [--seeds 0 1 2] [--json out.json]
    uv run python benchmarks/backtest.py --entities ERCO --weather forecast   # and the BA's temperature
    uv run python benchmarks/backtest.py --smoke    # a planted series, a tiny model: seconds

Data: ``../shared/real/eia930_multi/eia930_D_DF_6ba_2015_2019.parquet`` (demand and the BA's
day-ahead forecast), written straight into the processed store as the EIA normalizer stores them
(see ``multiyear.py``), then the quality checks (the build masks what they flag) and the build. The
model reads demand and the calendar (not the BA's forecast); the day-ahead forecast is only scored. It
trains on the relative error (``TrainConfig.relative_loss``; ``--no-relative-loss`` for the plain one)
and retrains at a tenth of the first training's learning rate (``--warm-learning-rate``).
With ``--weather``, each BA's recorded temperature (``../shared/real/weather_merra/``, 2016-2019) is
replayed through the weather plugin as ``weather.py`` does, and the model also reads it, with the
forecast of the hours ahead known at each issue time; the hours before 2016 have no weather (masked).

The LightGBM peer forecasts each target hour from what is known at the issue time: the target's
hour ahead, the calendar of the target hour, demand of the same hour 1, 2 and 7 days before, the last
hour before the issue, and yesterday's mean, every level divided by yesterday's mean (it learns the
shape, the mean carries the level); with ``--weather``, also the temperature forecast of the target
hour and the temperature of the same hour yesterday. One model per period, trained on the same days as the forecaster
and early-stopped on its validation month; it is scored on the same hours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from multiyear import canonical, planted
from weather import MERRA
from weather import planted as planted_weather

RECORDED = (Path(__file__).resolve().parents[1].parent / "shared" / "real" / "eia930_multi"
            / "eia930_D_DF_6ba_2015_2019.parquet")
HOME = Path(__file__).parent / ".cache" / "backtest"
ENTITIES = ["PACW", "ERCO", "ISNE", "MISO", "NYIS", "PJM"]
REFERENCE = "eia.demand_forecast"
SERIES = {"D": "demand", "DF": "demand_forecast"}
WEATHER = ("weather.temperature_2m", "weather.temperature_2m@forecast")
"""The features ``--weather`` adds: the temperature, and its day-ahead forecast (a known-future input)."""
KEYS = ["entity", "inputs", "retrain"]
"""What one row of the tables compares: a BA, what its model read, and how often it was trained."""


@dataclass(frozen=True)
class Setup:
    test_start: datetime
    test_end: datetime
    seq_len: int = 168
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    epochs: int = 15
    warm_epochs: int = 5
    learning_rate: float = 1e-3
    relative_loss: bool = True
    warm_learning_rate: float = 0.1


FULL = Setup(datetime(2019, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
SMOKE = Setup(datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 8, tzinfo=UTC), seq_len=72, d_model=16,
              n_layers=1, n_heads=2, epochs=2, warm_epochs=1)


def recorded(entities: list[str]) -> pl.DataFrame:
    if not RECORDED.exists():
        raise SystemExit(f"recorded data not found at {RECORDED}; run with --smoke for a planted series")
    frame = pl.read_parquet(RECORDED).filter(pl.col("region").is_in(entities))
    return pl.concat(canonical(frame.filter(pl.col("type") == code)
                               .select(ts=pl.col("timestamp_utc") - pl.duration(hours=1), region="region",
                                       value="value_mw"), series=series)
                     for code, series in SERIES.items())


def smoke_rows() -> pl.DataFrame:
    """The planted demand of ``multiyear.py`` and a day-ahead forecast of it with a 2% error."""
    demand = planted()
    noise = np.random.default_rng(1).normal(1, 0.02, demand.height)
    forecast = demand.with_columns(series=pl.lit("demand_forecast"), value=(pl.col("value") * noise).round())
    return pl.concat([demand, forecast])


def prepare(home: Path, rows: pl.DataFrame) -> None:
    from energy_core import Lake
    from energy_core.ops import quality

    Lake(home).upsert(rows)
    flags = quality.check(home)
    quality.save(flags, home)
    masked = flags.filter(pl.col("check").is_in(quality.MASKED_CHECKS))
    print(f"quality masks {masked['hours'].sum()} hours", flush=True)


# -- the LightGBM peer ------------------------------------------------------------------------------

PEER_LAGS = (24, 48, 168)


def peer_rows(demand: np.ndarray, calendar: np.ndarray, issues: np.ndarray,
              weather: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(features, target ratio, target row, yesterday's mean) for every hour 0-23 ahead of each issue row.
    ``weather`` (hours, 2): the temperature and its day-ahead forecast, as the model reads them: the
    forecast of the target hour, and the temperature of the same hour yesterday (NaN where missing)."""
    ahead = np.arange(24)
    target = (issues[:, None] + ahead[None, :]).ravel()
    issue = np.repeat(issues, 24)
    yesterday = np.stack([demand[issues - 24 + h] for h in range(24)], axis=1)
    observed = np.isfinite(yesterday)
    level = np.repeat(np.where(observed, yesterday, 0).sum(axis=1) / np.maximum(observed.sum(axis=1), 1), 24)
    lags = [demand[target - lag] / level for lag in PEER_LAGS]
    known = [] if weather is None else [weather[target - 24, 0], weather[target, 1]]
    features = np.column_stack([np.tile(ahead, len(issues)), calendar[target], *lags, demand[issue - 1] / level,
                                *known])
    return features, demand[target] / level, target, level


def peer_forecast(ts: np.ndarray, demand: np.ndarray, calendar: np.ndarray, val_start: datetime,
                  test_start: datetime, test_end: datetime, seed: int, weather: np.ndarray | None = None
                  ) -> pl.DataFrame:
    """LightGBM's forecasts of [test_start, test_end), trained before ``val_start`` and early-stopped on
    [val_start, test_start), from forecasts issued at 00:00 UTC as the model's are (``weather``: see
    :func:`peer_rows`)."""
    import lightgbm

    midnights = np.flatnonzero(ts.astype("datetime64[h]").astype(np.int64) % 24 == 0)
    midnights = midnights[(midnights >= 168) & (midnights + 24 <= len(ts))]

    def rows(lo: datetime, hi: datetime) -> tuple[np.ndarray, ...]:
        when = ts[midnights]
        lo64, hi64 = (np.datetime64(moment.replace(tzinfo=None), "us") for moment in (lo, hi))
        chosen = midnights[(when >= lo64) & (when < hi64)]
        features, ratio, target, level = peer_rows(demand, calendar, chosen, weather)
        known = np.isfinite(ratio) & np.isfinite(level) & (level > 0)
        return features[known], ratio[known], target[known], level[known]

    train_x, train_y, _, _ = rows(datetime(1970, 1, 1), val_start)
    val_x, val_y, _, _ = rows(val_start, test_start)
    test_x, _, test_rows, test_level = rows(test_start, test_end)
    params = {"objective": "regression", "learning_rate": 0.03, "num_leaves": 31, "min_data_in_leaf": 20,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.9, "seed": seed, "verbose": -1,
              "num_threads": 2}
    train_set = lightgbm.Dataset(train_x, train_y)
    model = lightgbm.train(params, train_set, num_boost_round=2000,
                           valid_sets=[lightgbm.Dataset(val_x, val_y, reference=train_set)],
                           callbacks=[lightgbm.early_stopping(100, verbose=False)])
    predicted = model.predict(test_x) * test_level
    return pl.DataFrame({"ts": ts[test_rows], "lightgbm": predicted}).with_columns(
        pl.col("ts").dt.replace_time_zone("UTC"))


# -- one BA ------------------------------------------------------------------------------------------

def add_weather(home: Path, entities: list[str], variant: str, temperature: pl.DataFrame, end: datetime) -> None:
    """Replay ``temperature`` (ts, region, temperature_c) into ``home`` as ``weather.py``'s ``variant``: the
    recorded value and, as the forecast known a day ahead, the same value ("actual") or with a realistic
    error ("forecast", seed 0: the same error whatever the model's seed)."""
    from weather import replay, tables

    table = tables(temperature, home / "weather-tables", seed=0)[variant]
    replay(home, table, entities, temperature["ts"].min(), end)


def run_one(home: Path, entity: str, seed: int, setup: Setup, retrain_months: int, inputs: str) -> pl.DataFrame:
    """Every scored hour of ``entity``'s backtest, twice: the model trained once (the first period's,
    forecasting every period) and retrained every ``retrain_months``, each with a LightGBM peer
    trained as often beside it."""
    from energy_core.features import FeatureStore
    from energy_core.features.calendar import CALENDAR_FEATURES
    from energy_core.ml import TrainConfig
    from energy_core.ml.backtest import FIRST_MODEL, BacktestPlan, add_months, backtest
    from energy_core.ml.evaluate import BANDS

    retrained = {3: "quarterly"}.get(retrain_months, f"every {retrain_months} months")
    out = home / "runs" / f"{entity}-seed{seed}"
    probe = FeatureStore(home)
    probe.build([entity])
    features = [f for f in probe.latest(entity).features if f != REFERENCE]
    config = TrainConfig(entity=entity, seq_len=setup.seq_len, epochs=setup.epochs, d_model=setup.d_model,
                         n_heads=setup.n_heads, n_layers=setup.n_layers, learning_rate=setup.learning_rate, seed=seed,
                         features=features, relative_loss=setup.relative_loss)
    plan = BacktestPlan(setup.test_start, setup.test_end, retrain_months=retrain_months,
                        warm_epochs=setup.warm_epochs, warm_learning_rate=setup.warm_learning_rate,
                        reference=REFERENCE)
    started = time.perf_counter()
    hours = backtest(home, config, plan, out, progress=lambda line: print(f"  {entity} seed {seed} {line}", flush=True))
    seconds = time.perf_counter() - started

    store = FeatureStore(home, uri=str(out / "features"), exports=out / "features" / "exports")
    info, ts, values, mask = store.arrays(entity)
    demand = np.where(mask[:, info.features.index(info.target)] > 0, values[:, info.features.index(info.target)],
                      np.nan).astype(np.float64)
    calendar = values[:, [info.features.index(f) for f in CALENDAR_FEATURES]].astype(np.float64)
    weather = None
    if WEATHER[0] in info.features:  # the peer reads what the model reads
        columns = [info.features.index(name) for name in WEATHER]
        weather = np.where(mask[:, columns] > 0, values[:, columns], np.nan).astype(np.float64)
    periods = plan.periods()
    first = periods[0][0]
    once = peer_forecast(ts, demand, calendar, add_months(first, -1), first, plan.test_end, seed, weather)
    again = pl.concat(peer_forecast(ts, demand, calendar, add_months(start, -1), start, end, seed, weather)
                      for start, end in periods)
    both = [hours.drop(FIRST_MODEL).join(again, on="ts").with_columns(retrain=pl.lit(retrained)),
            hours.drop("model", *BANDS).rename({FIRST_MODEL: "model"}).join(once, on="ts")  # its quantiles: not kept
            .with_columns(retrain=pl.lit("once"))]
    return pl.concat(both, how="diagonal").with_columns(entity=pl.lit(entity), inputs=pl.lit(inputs),
                                                        seed=pl.lit(seed), train_seconds=pl.lit(seconds))


# -- the tables --------------------------------------------------------------------------------------

def mape(predicted: pl.Expr) -> pl.Expr:
    return ((predicted - pl.col("actual")).abs() / pl.col("actual")).filter(pl.col("actual") != 0).mean() * 100


def monthly(hours: pl.DataFrame) -> pl.DataFrame:
    """Per BA, retraining, month and seed: MAPE and MAE of every forecaster, then means over seeds."""
    forecasters = ["model", "lightgbm", "same hour yesterday", "same hour last week", "reference"]
    per_seed = (hours.with_columns(month=pl.col("ts").dt.strftime("%Y-%m"))
                .group_by(*KEYS, "month", "seed")
                .agg(pl.len().alias("hours"), *(mape(pl.col(f)).alias(f"{f} MAPE") for f in forecasters),
                     *((pl.col(f) - pl.col("actual")).abs().mean().alias(f"{f} MAE") for f in forecasters)))
    table = (per_seed.group_by(*KEYS, "month")
             .agg(pl.col("hours").first(), pl.col("model MAPE").alias("model MAPE by seed"),
                  *(pl.col(c).mean() for c in per_seed.columns if c.endswith(("MAPE", "MAE")))))
    best = pl.min_horizontal("same hour yesterday MAPE", "same hour last week MAPE")
    return (table.with_columns(baseline=best)
            .with_columns(**{f"gain vs {name}": 100 * (1 - pl.col("model MAPE") / pl.col(column))
                             for name, column in (("baseline", "baseline"), ("lightgbm", "lightgbm MAPE"),
                                                  ("BA forecast", "reference MAPE"))})
            .sort(*KEYS, "month"))


def markdown(table: pl.DataFrame) -> str:
    lines = ["| BA | inputs | trained | month | model MAPE (seeds) | MAE | better baseline | LightGBM | BA's forecast "
             "| gain vs baseline | vs LightGBM | vs BA's forecast |", "|---" * 12 + "|"]
    for r in table.iter_rows(named=True):
        seeds = ", ".join(f"{m:.2f}" for m in r["model MAPE by seed"])
        lines.append(f"| {r['entity']} | {r['inputs']} | {r['retrain']} | {r['month']} "
                     f"| {r['model MAPE']:.2f}% ({seeds}) "
                     f"| {r['model MAE']:.0f} | {r['baseline']:.2f}% | {r['lightgbm MAPE']:.2f}% "
                     f"| {r['reference MAPE']:.2f}% | {r['gain vs baseline']:+.1f}% | {r['gain vs lightgbm']:+.1f}% "
                     f"| {r['gain vs BA forecast']:+.1f}% |")
    return "\n".join(lines)


def summary(table: pl.DataFrame, hours: pl.DataFrame) -> str:
    """Per BA and retraining: the year's MAPE of each forecaster and how many months meet each goal."""
    lines = ["| BA | inputs | trained | model | LightGBM | better baseline (monthly) | BA's forecast | months >= 20% "
             "better than the baseline | months better than LightGBM | months better than the BA's forecast |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    year = (hours.group_by(*KEYS, "seed")
            .agg(*(mape(pl.col(f)).alias(f) for f in ("model", "lightgbm", "reference")))
            .group_by(KEYS).agg(pl.col("model", "lightgbm", "reference").mean()))
    for (entity, inputs, retrain), group in table.group_by(KEYS, maintain_order=True):
        y = year.filter(pl.col("entity") == entity, pl.col("inputs") == inputs,
                        pl.col("retrain") == retrain).row(0, named=True)
        n = group.height
        lines.append(f"| {entity} | {inputs} | {retrain} | {y['model']:.2f}% | {y['lightgbm']:.2f}% "
                     f"| {group['baseline'].mean():.2f}% | {y['reference']:.2f}% "
                     f"| {(group['gain vs baseline'] >= 20).sum()}/{n} | {(group['gain vs lightgbm'] > 0).sum()}/{n} "
                     f"| {(group['gain vs BA forecast'] > 0).sum()}/{n} |")
    return "\n".join(lines)


def intervals(hours: pl.DataFrame) -> str:
    """Per BA, over 2019 (the model retrained, means over seeds): coverage of [P10, P90] and pinball loss,
    the model's quantiles against each baseline's empirical ones."""
    from energy_core.ml.evaluate import BASELINES, interval_scores

    lines = ["| BA | inputs | model P10-P90 coverage | model pinball (MW) | " + " | ".join(
        f"{name}: coverage, pinball" for name in BASELINES) + " | pinball gain vs the better baseline |",
        "|---|---|---|---|" + "---|" * len(BASELINES) + "---|"]
    if "p10" not in hours.columns:
        return "(these hours were scored before the forecasts had quantiles)"
    banded = hours.filter(pl.col("p10").is_not_null())
    for (entity, inputs), group in banded.group_by("entity", "inputs", maintain_order=True):
        per_seed = [interval_scores(seed) for _, seed in group.group_by("seed")]
        coverage = {n: statistics.mean(s[n].coverage for s in per_seed) for n in per_seed[0]}
        pinball = {n: statistics.mean(s[n].pinball for s in per_seed) for n in per_seed[0]}
        best = min(BASELINES, key=pinball.__getitem__)
        lines.append(f"| {entity} | {inputs} | {coverage['model']:.1f}% | {pinball['model']:.0f} | " + " | ".join(
            f"{coverage[n]:.1f}%, {pinball[n]:.0f}" for n in BASELINES)
            + f" | {100 * (1 - pinball['model'] / pinball[best]):+.1f}% |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", nargs="+", default=ENTITIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--retrain-months", type=int, default=3, help="Months between retrainings (3: quarterly).")
    parser.add_argument("--epochs", type=int, default=FULL.epochs)
    parser.add_argument("--seq-len", type=int, default=FULL.seq_len)
    parser.add_argument("--relative-loss", action=argparse.BooleanOptionalAction, default=FULL.relative_loss,
                        help="Train on the squared relative error (see TrainConfig.relative_loss).")
    parser.add_argument("--warm-learning-rate", type=float, default=FULL.warm_learning_rate,
                        help="Peak learning rate of each retraining, as a share of the first training's.")
    parser.add_argument("--weather", choices=["actual", "forecast"],
                        help="Also replay each BA's recorded temperature (2016-2019) through the weather plugin: "
                             "'actual' serves the recorded value as the day-ahead forecast, 'forecast' adds "
                             "weather.py's error (2 C RMSE, AR(1) over hours).")
    parser.add_argument("--home", type=Path, default=HOME)
    parser.add_argument("--json", type=Path, help="Also write every scored hour here (Parquet if it ends so).")
    parser.add_argument("--smoke", action="store_true", help="A planted series and a tiny model (seconds).")
    parser.add_argument("--report", nargs="+", type=Path, metavar="PARQUET",
                        help="Print the tables of earlier runs' hours (their --json .parquet files) together.")
    args = parser.parse_args()
    if args.report:
        hours = pl.concat((pl.read_parquet(path) for path in args.report), how="diagonal")
        hours = hours.with_columns(inputs=pl.col("inputs").fill_null("demand") if "inputs" in hours.columns
                                   else pl.lit("demand"))  # runs from before --weather read demand only
        table = monthly(hours)
        print(markdown(table), summary(table, hours), intervals(hours), sep="\n\n")
        return

    if args.smoke:
        scratch = tempfile.TemporaryDirectory()
        home, entities, seeds, setup, rows = Path(scratch.name), ["ERCO"], [0], SMOKE, smoke_rows()
        retrain_months = 1
        temperature = planted_weather(datetime(2019, 7, 1, tzinfo=UTC), SMOKE.test_end)[1] if args.weather else None
    else:
        home, entities, seeds = args.home, args.entities, args.seeds
        setup = replace(FULL, epochs=args.epochs, seq_len=args.seq_len, relative_loss=args.relative_loss,
                        warm_learning_rate=args.warm_learning_rate)
        rows = recorded(args.entities)
        retrain_months = args.retrain_months
        temperature = pl.read_parquet(MERRA).filter(pl.col("region").is_in(entities)) if args.weather else None
        if home.exists():
            import shutil

            shutil.rmtree(home)  # a fresh store and models for every run
    prepare(home, rows)
    inputs = "demand"
    if args.weather:
        add_weather(home, entities, args.weather, temperature, setup.test_end)
        inputs = f"demand, weather ({args.weather})"
    hours = pl.concat(run_one(home, entity, seed, setup, retrain_months, inputs)
                      for entity in entities for seed in seeds)
    table = monthly(hours)
    print(markdown(table))
    print()
    print(summary(table, hours))
    print()
    print(intervals(hours))
    seconds = hours.group_by("entity", "seed").agg(pl.col("train_seconds").first())
    print(f"\ntraining and scoring took {statistics.mean(seconds['train_seconds']):.0f} s per BA and seed on average "
          f"(the model trained once is the first period's of the same run)")
    if args.json:
        if args.json.suffix == ".parquet":
            hours.write_parquet(args.json)
        else:
            args.json.write_text(json.dumps(table.to_dicts(), indent=1, default=str))
    if args.smoke:
        assert table.height == 4 and hours["lightgbm"].is_finite().all(), "every forecaster scored every month"
        if args.weather:
            from energy_core.features import FeatureStore

            read = FeatureStore(home).latest(entities[0]).features
            assert any(name.startswith("weather.") for name in read), f"the model read no weather: {read}"
        print("checks passed: the model, LightGBM, the baselines and the BA's forecast were scored each month")


if __name__ == "__main__":
    main()
