"""``energy train``, ``energy evaluate`` and ``energy forecast``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from energy_core.cli.options import home_option
from energy_core.errors import ConfigError
from energy_core.home import Home


def _model_dir(home: Path, entity: str, model: Path | None) -> Path:
    return model or Home(home).model(entity)


@click.command("train")
@click.option("--entity", required=True, help="Entity (BA) to train on, e.g. PACW.")
@click.option("--seq-len", default=672, show_default=True, help="Hours of context per window.")
@click.option("--stride", default=24, show_default=True, help="Hours between window starts.")
@click.option("--horizon", default=24, show_default=True, help="Hours to forecast.")
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--lr", "learning_rate", default=1e-3, show_default=True, help="Peak learning rate (AdamW).")
@click.option("--warmup", "warmup_steps", default=20, show_default=True, help="Warm-up steps before cosine decay.")
@click.option("--d-model", default=64, show_default=True)
@click.option("--heads", "n_heads", default=4, show_default=True)
@click.option("--layers", "n_layers", default=2, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--fault-sigmas", default=5.0, show_default=True, help="Leave out of the loss a target hour this many "
              "standard deviations from the same hour yesterday (a data fault); 0 keeps every hour.")
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the model folder.")
@click.option("--distributed", is_flag=True, help="Join the group mlx.launch started; the sequence is split "
              "across its ranks (ring attention).")
@click.option("--backend", default="ring", show_default=True, help="mx.distributed backend with --distributed.")
@home_option
def train_command(entity: str, seq_len: int, stride: int, horizon: int, epochs: int, batch_size: int,
                  learning_rate: float, warmup_steps: int, d_model: int, n_heads: int, n_layers: int, seed: int,
                  fault_sigmas: float, model: Path | None, resume: bool, distributed: bool, backend: str,
                  home: Path) -> None:
    """Train the ring-attention forecaster on an entity's feature windows.

    \b
    On several processes or machines:
      mlx.launch --backend ring -n 2 energy train --distributed --entity PACW
    """
    from energy_core.features import FeatureStore
    from energy_core.ml import Ring, TrainConfig, train  # before mlx.core: it loads OpenBLAS for MLX where there is one

    ring = Ring()
    if distributed:
        import mlx.core as mx

        ring = Ring(mx.distributed.init(strict=True, backend=backend))
    config = TrainConfig(entity=entity, seq_len=seq_len, stride=stride, horizon=horizon, batch_size=batch_size,
                         epochs=epochs, learning_rate=learning_rate, warmup_steps=warmup_steps, seed=seed,
                         d_model=d_model, n_heads=n_heads, n_layers=n_layers, fault_sigmas=fault_sigmas or None)
    out = _model_dir(home, entity, model)
    if ring.rank == 0:
        click.echo(f"training {entity} on {ring.size} rank(s): windows of {seq_len} h, stride {stride}, "
                   f"{horizon} h ahead; checkpoints in {out}")
    state = train(FeatureStore(home), config, out, ring=ring, resume=resume,
                  progress=lambda line: click.echo(line, err=True))
    if ring.rank == 0 and state.history:
        click.echo(json.dumps(state.history[-1]))


@click.command("evaluate")
@click.option("--entity", required=True)
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["val", "test"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--plot", "plot_to", is_flag=False, flag_value="", default=None, metavar="[PNG]",
              help="Also draw the forecasts against the actuals and the baselines "
              "(default file: <home>/plots/<entity>_<split>_forecasts.png).")
@home_option
def evaluate_command(entity: str, model: Path | None, split: str, as_json: bool, plot_to: str | None,
                     home: Path) -> None:
    """MAE, RMSE and MAPE of 24-hour forecasts on a held-out period, beside seasonal-naive baselines."""
    from energy_core.features import FeatureStore
    from energy_core.ml.evaluate import against_best_baseline, held_out_forecasts, scores

    hours = held_out_forecasts(FeatureStore(home), _model_dir(home, entity, model), split=split)
    if plot_to is not None:
        from energy_core.ops.plot import plot_forecasts

        path = plot_forecasts(hours, entity, split,
                              Path(plot_to) if plot_to else Home(home).plot(f"{entity}_{split}_forecasts"))
        click.echo(f"plot: {path}", err=as_json)
    scored = scores(hours)
    if as_json:
        click.echo(json.dumps({name: asdict(s) for name, s in scored.items()}, indent=2))
        return
    click.echo(f"{entity}, {split} period, {scored['model'].hours} hours scored")
    click.echo(f"{'':22} {'MAE':>10} {'RMSE':>10} {'MAPE %':>8}")
    for name, s in scored.items():
        click.echo(f"{name:22} {s.mae:10.1f} {s.rmse:10.1f} {s.mape:8.2f}")
    best, gain = against_best_baseline(scored)
    click.echo(f"model MAPE is {abs(gain):.1f}% {'lower' if gain >= 0 else 'higher'} than the better baseline ({best})")


@click.command("forecast")
@click.option("--entity", required=True)
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write .csv, .json or .parquet.")
@home_option
def forecast_command(entity: str, model: Path | None, output: Path | None, home: Path) -> None:
    """Forecast the hours after the latest stored hour from the real-time context."""
    from energy_core.features import FeatureStore
    from energy_core.ml import forecast

    frame = forecast(FeatureStore(home), _model_dir(home, entity, model))
    for ts, value in frame.iter_rows():
        click.echo(f"{ts:%Y-%m-%dT%H:%MZ}  {value:12.1f}")
    if output:
        writers: dict[str, Callable[[Path], object]] = {
            ".csv": frame.write_csv, ".json": frame.write_json, ".parquet": frame.write_parquet}
        if output.suffix not in writers:
            raise ConfigError(f"--output must end in .csv, .json or .parquet, not {output.suffix!r}")
        writers[output.suffix](output)
