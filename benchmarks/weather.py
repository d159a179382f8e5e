"""Weather as a known-future input (issue 21, item 5): each BA's forecaster without weather, with the
actual temperature as its day-ahead "forecast", and with that forecast given a realistic error,
scored on December 2019 beside the BA's own day-ahead forecast (EIA-930 type DF).

    uv run python benchmarks/weather.py [--entities ERCO ISNE ...] [--seed 0] [--epochs 15] [--json out.json]
    uv run python benchmarks/weather.py --smoke    # a planted BA whose demand follows its weather: seconds

Protocol (``multiyear.py``'s "2019" span, the cheapest that answers the question on a small CPU):
train on January to October 2019, validate on November (the epoch with the lowest validation loss is
kept), score December 2019 with back-to-back 24-hour forecasts issued at 00:00 UTC; 7-day context,
d_model 64, 2 layers. The model reads demand and the calendar (its known-future path reads the
calendar of the hours forecast) and, in the weather variants, the BA's temperature (history) and its
temperature forecast at the hours forecast. The three variants differ in their data only.

Data: demand and DF from ``../shared/real/eia930_multi/`` written into the processed store as the EIA
normalizer stores them (see ``multiyear.py``); temperature from ``../shared/real/weather_merra/``
(MERRA population-weighted 2-m temperature per BA, benchmarks only), replayed by ``energy run --source
weather`` through the weather simulator's table mode: ``weather.hourly`` is the recorded value and
``weather.forecast`` each hour's forecast known a day before it (``retrieved_at`` = the hour less a
day, so a forecast issued at 00:00 UTC reads it for all 24 hours). No recorded day-ahead temperature
forecasts exist here: the "actual" variant serves the recorded value as the forecast; the "forecast"
variant adds an error of about 2 degrees C RMSE, AR(1) over hours with phi 0.9 (fixed seed), the size
of a day-ahead 2-m temperature forecast's error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

MERRA = (Path(__file__).resolve().parents[1].parent / "shared" / "real" / "weather_merra"
         / "merra_t2m_popweighted_6ba_2016_2019.parquet")
HOME = Path(__file__).parent / ".cache" / "weather"
FIRST = datetime(2018, 12, 31, 23, tzinfo=UTC)
"""The hour ending 2019-01-01 00:00 UTC: the "2019" span of ``multiyear.py``."""
VAL_START, TEST_START, END = datetime(2019, 11, 1, tzinfo=UTC), datetime(2019, 12, 1, tzinfo=UTC), \
    datetime(2020, 1, 1, tzinfo=UTC)
VARIANTS = ("no weather", "actual", "forecast")
ERROR_RMSE, ERROR_PHI = 2.0, 0.9


def forecast_error(hours: int, seed: int, rmse: float = ERROR_RMSE, phi: float = ERROR_PHI) -> np.ndarray:
    """An AR(1) error over hours with stationary standard deviation ``rmse``."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, rmse * np.sqrt(1 - phi ** 2), hours)
    error = np.empty(hours)
    error[0] = rng.normal(0, rmse)
    for h in range(1, hours):
        error[h] = phi * error[h - 1] + shocks[h]
    return error


def tables(temperature: pl.DataFrame, folder: Path, seed: int) -> dict[str, Path]:
    """The simulator's tables of the two weather variants: the recorded temperature served as its own
    forecast, and with an AR(1) error added to the forecast (one error series per BA)."""
    from energy_weather.points import BUILTIN, at_points

    folder.mkdir(parents=True, exist_ok=True)
    actual = temperature.select("ts", "region", "temperature_c")
    noisy = pl.concat(
        group.sort("ts").with_columns(forecast_temperature_c=(pl.col("temperature_c") + pl.Series(
            forecast_error(group.height, seed + k))).round(2))
        for k, (_, group) in enumerate(sorted(actual.group_by("region"), key=lambda pair: str(pair[0]))))
    paths = {"actual": folder / "actual.parquet", "forecast": folder / "forecast.parquet"}
    for variant, frame in (("actual", actual), ("forecast", noisy)):
        frame.write_parquet(paths[variant])  # per BA, as check_replay compares
        at_points(frame, BUILTIN).write_parquet(served(paths[variant]))  # at each BA's points, as the simulator serves

    return paths


def served(table: Path) -> Path:
    """Where the simulator's copy of a per-BA table lies (its rows at the BAs' weather points)."""
    return table.with_suffix(".points.parquet")


def prepare(home: Path, demand: pl.DataFrame, entities: list[str], table: Path | None, start: datetime,
            splits: tuple[datetime, datetime]) -> None:
    """Store the demand and DF, replay the weather table (if any), run the quality checks (the build
    masks what they flag) and build."""
    from energy_core import Lake
    from energy_core.features import FeatureStore, Splits
    from energy_core.ops import quality

    Lake(home).upsert(demand.filter(pl.col("ts") >= start))
    if table is not None:
        replay(home, table, entities, start, END)
    quality.save(quality.check(home), home)
    FeatureStore(home).build(entities, splits=Splits(*splits))


def replay(home: Path, table: Path, entities: list[str], start: datetime, end: datetime) -> None:
    """Replay the hours [start, end) of a weather table (see :func:`tables`) through ``energy run --source
    weather --simulate`` into ``home``, and check that the stored weather is the table's."""
    from energy_weather.api import TABLE_VARIABLE

    from energy_core.ingest.runner import RunConfig, run

    report = run(RunConfig(sources=("weather",), start=start - timedelta(days=2), end=end, home=home,
                           regions=tuple(entities), datasets=("weather.hourly", "weather.forecast"),
                           simulate=True, env={TABLE_VARIABLE: str(served(table)),
                                               "ENERGY_WEATHER_VARIABLES": "temperature_2m"}))
    if not report.ok:
        raise SystemExit(f"weather replay failed: {report.failed}")
    check_replay(home, table, entities, start, end)


def check_replay(home: Path, table: Path, entities: list[str], start: datetime, end: datetime) -> None:
    """The stored weather is the table's: the recorded value, and the forecast known a day before its hour
    (hours the table lacks are stored as missing)."""
    from energy_core import Lake

    lake = Lake(home)
    recorded = pl.read_parquet(table).filter(pl.col("region").is_in(entities), pl.col("ts").is_between(start, end,
                                                                                                       closed="left"))
    for dataset, column in (("weather.hourly", "temperature_c"), ("weather.forecast", "forecast_temperature_c")):
        stored = lake.scan(dataset).filter(pl.col("region").is_in(entities), pl.col("value").is_not_null(),
                                           pl.col("ts").is_between(start, end, closed="left")).collect()
        column = column if column in recorded.columns else "temperature_c"
        joined = stored.join(recorded, on=["ts", "region"], how="inner")
        if joined.height != stored.height or joined.height < recorded.height or \
                not np.allclose(joined["value"], joined[column]):
            raise SystemExit(f"{dataset}: the stored values are not the table's")
        if dataset == "weather.forecast" and (stored["ts"] - stored["retrieved_at"]).unique().to_list() != \
                [timedelta(days=1)]:
            raise SystemExit("weather.forecast: a forecast was not stamped as known a day before its hour")


def run_one(home: Path, entity: str, seed: int, size: dict) -> pl.DataFrame:
    """Train on the home's span and score the test month: ts, actual, model, the baselines and DF."""
    from energy_core.features import FeatureStore
    from energy_core.ml import TrainConfig, train
    from energy_core.ml.backtest import _with_reference
    from energy_core.ml.evaluate import held_out_forecasts

    store = FeatureStore(home)
    features = [f for f in store.latest(entity).features if f != "eia.demand_forecast"]  # DF is only scored
    config = TrainConfig(entity=entity, stride=24, seed=seed, features=features, **size)
    folder = home / "models" / f"{entity}-seed{seed}"
    started = time.perf_counter()
    state = train(store, config, folder, progress=lambda line: print(f"  {home.name} {entity} {line}", flush=True))
    hours = _with_reference(store, entity, "eia.demand_forecast", held_out_forecasts(store, folder, split="test"))
    print(f"{home.name} {entity}: best epoch {state.best_epoch}, {time.perf_counter() - started:.0f} s", flush=True)
    return hours.select("ts", "actual", "model", "same hour yesterday", "same hour last week", "reference")


def mape(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - actual) / np.abs(actual)) * 100)


def compare(scored: dict[str, pl.DataFrame]) -> dict:
    """MAPE of each variant, the baselines and DF on the hours every one of them scored."""
    common = scored[VARIANTS[0]].select("ts")
    for frame in scored.values():
        common = common.join(frame.select("ts"), on="ts", how="inner")
    frames = {name: common.join(frame, on="ts", how="left").sort("ts") for name, frame in scored.items()}
    base = frames[VARIANTS[0]]
    actual = base["actual"].to_numpy()
    row = {name: mape(frame["model"].to_numpy(), actual) for name, frame in frames.items()}
    row |= {"DF": mape(base["reference"].to_numpy(), actual), "hours": common.height,
            "yesterday": mape(base["same hour yesterday"].to_numpy(), actual)}
    gap = row["no weather"] - row["DF"]
    for name in VARIANTS[1:]:
        row[f"{name} closes"] = 100 * (row["no weather"] - row[name]) / gap if gap > 0 else float("nan")
    return row


def markdown(rows: dict[str, dict]) -> str:
    lines = ["| BA | no weather | actual temperature | forecast (+2 C AR(1) error) | BA's DF | same hour yesterday "
             "| gap to DF closed: actual / forecast | hours |", "|---|---|---|---|---|---|---|---|"]
    for entity, r in rows.items():
        lines.append(f"| {entity} | {r['no weather']:.2f}% | {r['actual']:.2f}% | {r['forecast']:.2f}% "
                     f"| {r['DF']:.2f}% | {r['yesterday']:.2f}% | {r['actual closes']:.0f}% / "
                     f"{r['forecast closes']:.0f}% | {r['hours']} |")
    return "\n".join(lines)


def planted(start: datetime, end: datetime, entity: str = "ERCO") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Demand whose daily level follows the day's temperature (independent from day to day), with a
    day-ahead forecast of it with a 2% error, and the temperature as the simulator's table."""
    from multiyear import canonical

    hours = np.arange(int((end - start).total_seconds() // 3600))
    days = hours.size // 24 + 1
    rng = np.random.default_rng(0)
    anomaly = np.repeat(rng.normal(0, 4, days), 24)[:hours.size]
    local = (hours - 6) % 24
    temperature = 15 + 6 * np.sin(2 * np.pi * (local - 9) / 24) + anomaly
    demand = 1000 * (1 + 0.2 * np.sin(2 * np.pi * (local - 9) / 24)) + 30 * anomaly + rng.normal(0, 5, hours.size)
    ts = [start + timedelta(hours=int(h)) for h in hours]
    frame = pl.DataFrame({"ts": ts, "region": entity, "value": demand.round()})
    forecast = frame.with_columns(value=(pl.col("value") * rng.normal(1, 0.02, hours.size)).round())
    rows = pl.concat([canonical(frame), canonical(forecast, series="demand_forecast")])
    return rows, pl.DataFrame({"ts": ts, "region": entity, "temperature_c": temperature.round(2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", nargs="+", default=["ERCO", "ISNE"])
    parser.add_argument("--seed", type=int, default=0, help="Initial weights, batch order and the forecast error.")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seq-len", type=int, default=168)
    parser.add_argument("--home", type=Path, default=HOME, help="Where the stores and models go (one per variant).")
    parser.add_argument("--json", type=Path, help="Also write the table here.")
    parser.add_argument("--smoke", action="store_true", help="A planted BA and a tiny model in a temporary folder: "
                        "checks that the comparison runs end to end (seconds).")
    args = parser.parse_args()

    if args.smoke:
        scratch = tempfile.TemporaryDirectory()
        home, entities = Path(scratch.name), ["ERCO"]
        start, splits = datetime(2019, 8, 1, tzinfo=UTC), (datetime(2019, 11, 1, tzinfo=UTC), TEST_START)
        demand, temperature = planted(start, END)
        size = {"seq_len": 72, "d_model": 16, "n_layers": 1, "n_heads": 2, "batch_size": 8, "epochs": 4,
                "learning_rate": 3e-3}
    else:
        from backtest import recorded

        if not MERRA.exists():
            raise SystemExit(f"recorded temperature not found at {MERRA}; run with --smoke for a planted BA")
        home, entities, start, splits = args.home, args.entities, FIRST, (VAL_START, TEST_START)
        demand, temperature = recorded(entities), pl.read_parquet(MERRA).filter(pl.col("region").is_in(entities))
        size = {"seq_len": args.seq_len, "d_model": 64, "n_layers": 2, "n_heads": 4, "batch_size": 8,
                "epochs": args.epochs, "learning_rate": 1e-3}
    paths = tables(temperature, home / "tables", args.seed)
    scored: dict[str, dict[str, pl.DataFrame]] = {entity: {} for entity in entities}
    for variant in VARIANTS:
        folder = home / variant.replace(" ", "-")
        if folder.exists():
            import shutil

            shutil.rmtree(folder)  # a fresh store and models for every run
        table = paths.get(variant)
        prepare(folder, demand, entities, table, start, splits)
        for entity in entities:
            scored[entity][variant] = run_one(folder, entity, args.seed, size)
    rows = {entity: compare(scored[entity]) for entity in entities}
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.smoke:
        mean = statistics.mean(rows[e]["actual"] for e in entities)
        if not mean < statistics.mean(rows[e]["no weather"] for e in entities):
            raise SystemExit("the planted demand follows its weather, yet the model with weather did not beat it")
        print("checks passed: the weather replayed as recorded, every variant scored the same hours, and the "
              "planted weather helped")


if __name__ == "__main__":
    main()
