"""What ``energy train`` and ``energy evaluate`` do about tracking: the trackers named, the settings a
replay changes, and the held-out scores (with the forecast plot, drawn here: ``ml`` cannot draw)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from energy_core.cli import command_line, plugin_manager
from energy_core.home import Home

if TYPE_CHECKING:
    import polars as pl

    from energy_core.features import FeatureStore
    from energy_core.ml.tracking import RunLog

logger = logging.getLogger(__name__)

TRAIN_SETTINGS = ("seq_len", "stride", "horizon", "epochs", "batch_size", "learning_rate", "warmup_steps", "d_model",
                  "n_heads", "n_layers", "seed", "fault_sigmas", "relative_loss", "point_in_time")
"""The ``energy train`` options that are ``TrainConfig`` fields of the same name."""


def typed(ctx: click.Context, names: Iterable[str]) -> dict[str, Any]:
    """The options among ``names`` given on the command line (not defaults, nor ``energy.toml``'s)."""
    given = {name: ctx.params[name] for name in names
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}
    if "fault_sigmas" in given:
        given["fault_sigmas"] = given["fault_sigmas"] or None  # 0 keeps every hour
    return given


def open_log(ctx: click.Context, home: Home, trackers: Iterable[str], *, replay_of: str | None = None,
             overrides: dict[str, Any] | None = None) -> RunLog:
    """A run log with the local record and the trackers named (an unknown name stops the command here,
    before any training)."""
    from energy_core.ml.tracking import RunLog, tracker_classes

    return RunLog(home, tracker_classes(plugin_manager(ctx), trackers), command=command_line(ctx),
                  replay_of=replay_of, overrides=overrides)


def score_after_training(log: RunLog, store: FeatureStore, checkpoint: Path, split: str) -> None:
    """Score the newly trained model on ``split`` and log it, with a plot of the forecasts kept in the run's
    record when matplotlib (the ``plot`` extra) is installed."""
    from energy_core.ml.evaluate import held_out_forecasts
    from energy_core.storage.training_runs import TrainingRuns

    assert log.run is not None, "scores are logged to a started run"
    try:
        hours = held_out_forecasts(store, checkpoint, split=split)
    except ValueError as exc:  # no hours of the split to score
        logger.warning("no %s scores recorded: %s", split, exc)
        return
    plot = None
    if importlib.util.find_spec("matplotlib") is not None:
        from energy_core.ops.plot import plot_forecasts

        plot = plot_forecasts(hours, log.run.entity, split, TrainingRuns(store.home).plot(log.run.entity,
                                                                                          log.run.run_id, split))
    log_scores(log, store, split, hours, plot)


def log_scores(log: RunLog, store: FeatureStore, split: str, hours: pl.DataFrame, plot: Path | None) -> None:
    """Log the scores of the model and the baselines over ``hours`` (see ``held_out_forecasts``)."""
    from energy_core.ml.evaluate import against_best_baseline, scores
    from energy_core.ml.tracking import evaluation

    assert log.run is not None, "scores are logged to a started run"
    scored = scores(hours)
    log.evaluation(evaluation(split, scored, *against_best_baseline(scored), store.latest(log.run.entity), plot))
