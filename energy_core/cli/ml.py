"""``energy train``, ``energy evaluate`` and ``energy forecast``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import click

from energy_core.cli.options import home_option, relative_loss_option
from energy_core.errors import ConfigError
from energy_core.home import Home


def _model_dir(home: Home, entity: str, model: Path | None) -> Path:
    return model or home.model(entity)


@click.command("train")
@click.option("--entity", help="Entity (BA) to train on, e.g. PACW (with --from-run: the run's).")
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
@relative_loss_option
@click.option("--point-in-time", is_flag=True, help="Build each window's inputs from the values known at its issue "
              "time (every revision kept by the lake), never a later revision.")
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the model folder.")
@click.option("--distributed", is_flag=True, help="Join the group mlx.launch started; the sequence is split "
              "across its ranks (ring attention).")
@click.option("--backend", default="ring", show_default=True, help="mx.distributed backend with --distributed.")
@click.option("--tracker", "trackers", multiple=True, metavar="NAME", help="Also log the run to this tracker "
              "(repeatable): wandb, mlflow or another installed tracker plugin. The local record, which `energy "
              "runs` lists, is always kept. Default: [train] trackers in energy.toml.")
@click.option("--from-run", metavar="RUN", help="Replay a recorded run (`energy runs` lists them): its settings, "
              "seed and data version (the LanceDB table version it read). Training flags given beside it change "
              "those settings.")
@home_option
@click.pass_context
def train_command(ctx: click.Context, entity: str | None, seq_len: int, stride: int, horizon: int, epochs: int,
                  batch_size: int, learning_rate: float, warmup_steps: int, d_model: int, n_heads: int, n_layers: int,
                  seed: int, fault_sigmas: float, relative_loss: bool, point_in_time: bool, model: Path | None,
                  resume: bool, distributed: bool, backend: str,
                  trackers: tuple[str, ...], from_run: str | None, home: Home) -> None:
    """Train the ring-attention forecaster on an entity's feature windows; the run is recorded.

    \b
    On several processes or machines:
      mlx.launch --backend ring -n 2 energy train --distributed --entity PACW
    """
    from energy_core.cli.tracking import TRAIN_SETTINGS, open_log, score_after_training, typed
    from energy_core.features import FeatureStore
    from energy_core.ml import Ring, TrainConfig, train  # before mlx.core: it loads OpenBLAS for MLX where there is one
    from energy_core.ml.replay import PinnedStore, replay_of
    from energy_core.storage.training_runs import TrainingRuns

    ring = Ring()
    if distributed:
        import mlx.core as mx

        ring = Ring(mx.distributed.init(strict=True, backend=backend))
    overrides: dict = {}
    replayed = None
    store: FeatureStore
    if from_run is not None:
        if resume:
            raise click.UsageError("--from-run starts a new run from a recorded one; --resume continues the run in "
                                   "the model folder: give one of them")
        record = TrainingRuns(home).find(from_run)
        typed_entity = typed(ctx, ["entity"]).get("entity")
        if typed_entity not in (None, record["entity"]):
            raise click.UsageError(f"run {record['run_id']} trained {record['entity']}, not {typed_entity}; leave "
                                   "--entity out to replay it")
        overrides = typed(ctx, TRAIN_SETTINGS)
        replay = replay_of(record, overrides)
        config, store, replayed = replay.config, PinnedStore(home, replay), replay.run_id
        store.arrays(config.entity)  # a data version that is gone is refused before anything else
    elif entity is None:
        raise click.UsageError("Missing option '--entity' (or --from-run RUN to replay a recorded run).")
    else:
        config = TrainConfig(entity=entity, seq_len=seq_len, stride=stride, horizon=horizon, batch_size=batch_size,
                             epochs=epochs, learning_rate=learning_rate, warmup_steps=warmup_steps, seed=seed,
                             d_model=d_model, n_heads=n_heads, n_layers=n_layers, fault_sigmas=fault_sigmas or None,
                             relative_loss=relative_loss, point_in_time=point_in_time)
        store = FeatureStore(home)
    out = _model_dir(home, config.entity, model)
    log = open_log(ctx, home, trackers, replay_of=replayed, overrides=overrides) if ring.rank == 0 else None
    if ring.rank == 0:
        replaying = f"replaying run {replayed}{f' with {overrides}' if overrides else ''}: " if replayed else ""
        click.echo(f"{replaying}training {config.entity} on {ring.size} rank(s): windows of {config.seq_len} h, "
                   f"stride {config.stride}, {config.horizon} h ahead; checkpoints in {out}")
    with log or contextlib.nullcontext():
        state = train(store, config, out, ring=ring, resume=resume, progress=lambda line: click.echo(line, err=True),
                      log=log)
        if log is not None and state.history:
            score_after_training(log, store, out, "val")
    if ring.rank == 0 and state.history:
        click.echo(json.dumps({**state.history[-1], "run_id": state.run_id}))
        click.echo(f"run {state.run_id} recorded: `energy runs` compares it, `energy train --from-run "
                   f"{state.run_id}` replays it", err=True)


@click.command("evaluate")
@click.option("--entity", required=True)
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["val", "test"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--plot", "plot_to", is_flag=False, flag_value="", default=None, metavar="[PNG]",
              help="Also draw the forecasts against the actuals and the baselines "
              "(default file: <home>/plots/<entity>_<split>_forecasts.png).")
@home_option
@click.pass_context
def evaluate_command(ctx: click.Context, entity: str, model: Path | None, split: str, as_json: bool,
                     plot_to: str | None, home: Home) -> None:
    """MAE, RMSE and MAPE of 24-hour forecasts on a held-out period, beside seasonal-naive baselines.

    The scores (and the plot) are added to the training run that wrote the model, in its record and in
    the trackers it was logged to.
    """
    from energy_core.cli import plugin_manager
    from energy_core.cli.tracking import log_scores
    from energy_core.features import FeatureStore
    from energy_core.ml.evaluate import against_best_baseline, held_out_forecasts, interval_scores, scores
    from energy_core.ml.tracking import RunLog, tracker_table

    store, checkpoint = FeatureStore(home), _model_dir(home, entity, model)
    hours = held_out_forecasts(store, checkpoint, split=split)
    path = None
    if plot_to is not None:
        from energy_core.ops.plot import plot_forecasts

        path = plot_forecasts(hours, entity, split,
                              Path(plot_to) if plot_to else home.plot(f"{entity}_{split}_forecasts"))
        click.echo(f"plot: {path}", err=as_json)
    log = RunLog.reopen(home, checkpoint, tracker_table(plugin_manager(ctx)))
    if log is not None and log.run is not None:
        with log:
            log_scores(log, store, split, hours, path)
        click.echo(f"recorded in run {log.run.run_id}", err=True)
    scored, intervals = scores(hours), interval_scores(hours)
    if as_json:
        click.echo(json.dumps({name: {**asdict(s), **asdict(intervals[name])} for name, s in scored.items()}, indent=2))
        return
    click.echo(f"{entity}, {split} period, {scored['model'].hours} hours scored; P10-P90 coverage (80% when "
               "calibrated) and pinball loss of the model's quantiles and the baselines' empirical ones")
    click.echo(f"{'':22} {'MAE':>10} {'RMSE':>10} {'MAPE %':>8} {'cover %':>8} {'pinball':>10}")
    for name, s in scored.items():
        band = intervals[name]
        click.echo(f"{name:22} {s.mae:10.1f} {s.rmse:10.1f} {s.mape:8.2f} {band.coverage:8.1f} {band.pinball:10.1f}")
    best, gain = against_best_baseline(scored)
    click.echo(f"model MAPE is {abs(gain):.1f}% {'lower' if gain >= 0 else 'higher'} than the better baseline ({best})")


@click.command("forecast")
@click.option("--entity", required=True)
@click.option("--model", type=click.Path(path_type=Path), help="Checkpoint folder. Default: <home>/models/<entity>.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write .csv, .json or .parquet.")
@home_option
def forecast_command(entity: str, model: Path | None, output: Path | None, home: Home) -> None:
    """Forecast the hours after the latest stored hour from the real-time context. The forecast is kept
    in the issued-forecast log (<home>/forecasts), so its accuracy can be measured when the actuals arrive."""
    from energy_core.features import FeatureStore
    from energy_core.ml import forecast
    from energy_core.ops.issued import Issue, Issuer, ModelIdentity, record

    store, checkpoint = FeatureStore(home), _model_dir(home, entity, model)
    identity = ModelIdentity.of(checkpoint)
    build = store.latest(identity.entity).build
    frame = forecast(store, checkpoint)
    record(home, Issue.of(frame, entity=identity.entity, issuer=Issuer.CLI, model=identity, feature_build=build))
    for ts, value, *_ in frame.iter_rows():  # the quantile columns, if any, are in --output
        click.echo(f"{ts:%Y-%m-%dT%H:%MZ}  {value:12.1f}")
    if output:
        writers: dict[str, Callable[[Path], object]] = {
            ".csv": frame.write_csv, ".json": frame.write_json, ".parquet": frame.write_parquet}
        if output.suffix not in writers:
            raise ConfigError(f"--output must end in .csv, .json or .parquet, not {output.suffix!r}")
        writers[output.suffix](output)
