"""``energy backtest``: a forecaster trained on the past, scored month by month."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from energy_core.cli.options import UtcDate, echo_table, home_option, relative_loss_option
from energy_core.errors import ConfigError
from energy_core.home import Home


@click.command("backtest")
@click.option("--entity", required=True, help="Entity (BA) to backtest, e.g. PACW.")
@click.option("--start", type=UtcDate(), required=True,
              help="First day scored, the first of a month; the month before validates, all earlier hours train.")
@click.option("--end", type=UtcDate(), required=True, help="Last day scored, inclusive.")
@click.option("--retrain-months", type=click.IntRange(min=1), metavar="N",
              help="Train again every N months (3: each quarter) from the last model's weights. Default: once.")
@click.option("--warm-epochs", default=5, show_default=True, help="Epochs of each retraining after the first.")
@click.option("--warm-lr", "warm_learning_rate", default=0.1, show_default=True,
              help="Peak learning rate of each retraining after the first, as a share of --lr.")
@click.option("--reference", metavar="FEATURE",
              help="A feature holding a forecast published before the issue time to score beside the model, "
              "e.g. eia.demand_forecast (the BA's own day-ahead forecast).")
@click.option("--seq-len", default=168, show_default=True, help="Hours of context per window.")
@click.option("--epochs", default=15, show_default=True, help="Epochs of the first training.")
@click.option("--batch-size", default=8, show_default=True)
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, help="Peak learning rate (AdamW).")
@relative_loss_option
@click.option("--d-model", default=64, show_default=True)
@click.option("--layers", "n_layers", default=2, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--features", "feature_names", multiple=True, metavar="FEATURE",
              help="Inputs of the model (repeatable; the target among them). Default: every feature.")
@click.option("--future", "future_names", multiple=True, metavar="FEATURE",
              help="Known-future inputs read at each forecast hour (repeatable; 'none' for none). Default: the "
              "calendar and every @forecast feature, such as a stored weather forecast.")
@click.option("--point-in-time", is_flag=True, help="Train and forecast from the values known at each window's "
              "issue time (every revision kept by the lake), never a later revision.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the backtest's features, models and hours go. Default: <home>/backtests/<entity>.")
@click.option("--json", "as_json", is_flag=True, help="Print the monthly table as JSON.")
@home_option
def backtest_command(entity: str, start: tuple[datetime, bool], end: tuple[datetime, bool],
                     retrain_months: int | None, warm_epochs: int, warm_learning_rate: float, reference: str | None,
                     seq_len: int, epochs: int, batch_size: int, learning_rate: float, relative_loss: bool,
                     d_model: int, n_layers: int, seed: int,
                     feature_names: tuple[str, ...], future_names: tuple[str, ...], point_in_time: bool,
                     out: Path | None, as_json: bool, home: Home) -> None:
    """Train on the past and score every month of --start..--end with 24-hour forecasts issued at 00:00 UTC,
    beside the seasonal-naive baselines (and --reference); the hours scored go to <out>/hours.parquet.

    \b
    energy backtest --entity PACW --start 2019-01-01 --end 2019-12-31 --retrain-months 3 \\
        --reference eia.demand_forecast
    """
    from datetime import timedelta

    from energy_core.ml import TrainConfig
    from energy_core.ml.backtest import BacktestPlan, backtest, monthly

    (first, _), (last, timed) = start, end
    if timed:
        raise ConfigError("--end is a day: the backtest scores whole days")
    plan = BacktestPlan(first, last + timedelta(days=1), retrain_months=retrain_months, warm_epochs=warm_epochs,
                        warm_learning_rate=warm_learning_rate, reference=reference, point_in_time=point_in_time)
    config = TrainConfig(entity=entity, seq_len=seq_len, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, relative_loss=relative_loss, d_model=d_model, n_layers=n_layers,
                         seed=seed, features=list(feature_names) or None,
                         future=[] if future_names == ("none",) else list(future_names) or None)
    folder = out or home.root / "backtests" / entity
    hours = backtest(home, config, plan, folder, progress=lambda line: click.echo(line, err=True))
    hours.write_parquet(folder / "hours.parquet")
    table = monthly(hours)
    if as_json:
        click.echo(table.write_json())
        return
    echo_table(table.select("month", "hours", *(c for c in table.columns if c.endswith("MAPE")),
                            *(c for c in table.columns if c.startswith("gain"))))
    click.echo(f"hours: {folder / 'hours.parquet'}", err=True)
