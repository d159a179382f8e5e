"""Training with AdamW, warm-up and cosine decay, gradient clipping, masked loss, checkpoints.

On one process the ring has one rank. Under ``mlx.launch`` every rank loads the same batch, keeps its
striped share of each window, and the ring attention layers exchange key/value blocks; the gradients
of the token-wise body are summed across ranks (each rank saw only its tokens), while the head's and
the linear path's gradients are already complete and identical on every rank.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from energy_core.errors import ConfigError
from energy_core.features import BuildInfo, FeatureStore
from energy_core.features.serving import Batch, known_future, training_sequences, window_starts
from energy_core.ml.model import (
    QUANTILES,
    WEEK,
    Forecaster,
    ModelConfig,
    anchor,
    holiday_columns,
    recent_readable,
    recent_target,
    stripe,
)
from energy_core.ml.provenance import code_version, data_version
from energy_core.ml.ring import Ring
from energy_core.ml.tracking import CHECKPOINT, RunLog
from energy_core.plugin.tracking import EpochMetrics, ModelFiles, RunPhase, StepMetrics

logger = logging.getLogger(__name__)

METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    entity: str
    seq_len: int = 672
    stride: int = 24
    horizon: int = 24
    batch_size: int = 8
    epochs: int = 10
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    clip_norm: float = 1.0
    seed: int = 0
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    features: list[str] | None = None
    future: list[str] | None = None
    """Known-future features the model reads at each forecast hour; None: the calendar and every
    ``@forecast`` feature of the build (see :func:`~energy_core.features.serving.known_future`); []: none."""
    fault_sigmas: float | None = 5.0
    """A target hour this many standard deviations (of the training hours) from the same hour yesterday
    is left out of the losses as a data fault (see :func:`scored_targets`); None keeps every hour, for
    a target whose jumps are real, such as a price."""
    relative_loss: bool = False
    """Weigh each target hour's squared error by (mean / actual)²: the squared relative error, in the units
    of the plain error at the mean, so that a low-demand hour (a spring night) counts as much as a peak, as
    MAPE counts it. The validation loss is weighed alike. For a target that stays positive, such as demand."""
    point_in_time: bool = False
    """Build each window's inputs from the values known at its issue time, never a later revision (see
    :mod:`energy_core.features.vintages`); its targets stay the latest values."""


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    """The epoch with the lowest validation loss so far among those :func:`first_kept_epoch` allows (0:
    none), whose weights ``best.safetensors`` holds."""
    best_val_loss: float | None = None
    interval_widening: float = 0.0
    """What the forecasts take from P10 and add to P90 (in the target's normalized units), so that
    [P10, P90] held 80% of the validation hours with the kept weights (see :func:`interval_widening`);
    0 for a model never validated, or trained before it was measured."""
    run_id: str = ""
    """The recorded training run these checkpoints belong to (see ``log`` of :func:`train`)."""


def masked_mse(prediction: mx.array, target: mx.array, observed: mx.array) -> mx.array:
    weight = observed.astype(mx.float32)
    return mx.sum(weight * (prediction - target) ** 2) / mx.maximum(mx.sum(weight), 1.0)


def masked_pinball(bands: mx.array, target: mx.array, observed: mx.array) -> mx.array:
    """Mean pinball loss of ``bands`` (batch, :data:`QUANTILES`, horizon) over the observed target hours."""
    q = mx.array(QUANTILES)[None, :, None]
    error = target[:, None, :] - bands
    weight = observed.astype(mx.float32)[:, None, :]
    return mx.sum(weight * mx.maximum(q * error, (q - 1) * error)) / mx.maximum(mx.sum(weight) * len(QUANTILES), 1.0)


WHOLE_ON_EVERY_RANK = ("head", "autoregressive", "quantile_head", "ahead")
"""Layers that read the same full inputs on every rank, so their gradients need no sum."""


def _reduce(grads: dict, ring: Ring) -> dict:
    """Sum the body's gradients across ranks (each rank saw only its tokens) in one collective; the
    head's and the linear path's are already whole and identical on every rank.

    One flat all_sum, not one per parameter: independent collectives could run in a different order
    on different ranks (their graphs differ where the window's last token lives) and deadlock.
    """
    if ring.size == 1:
        return grads
    flat = cast(list[tuple[str, mx.array]], tree_flatten(grads))  # a dict of arrays flattens to pairs
    body = [(name, g) for name, g in flat if not name.startswith(WHOLE_ON_EVERY_RANK)]
    summed = ring.all_sum(mx.concatenate([g.reshape(-1) for _, g in body]))
    offsets = np.cumsum([0, *(g.size for _, g in body)])
    reduced = {name: summed[a:b].reshape(g.shape) for (name, g), a, b in zip(body, offsets, offsets[1:], strict=False)}
    return tree_unflatten([(name, reduced.get(name, g)) for name, g in flat])


def _batches(store: FeatureStore, config: TrainConfig, split: str, shuffle_seed: int | None = None) -> Iterator[Batch]:
    return training_sequences(*store.arrays(config.entity), seq_len=config.seq_len, stride=config.stride,
                              features=config.features, split=split, batch_size=config.batch_size,
                              horizon=config.horizon, target=None, shuffle_seed=shuffle_seed,
                              future=config.future or (),
                              vintages=store.vintages(config.entity) if config.point_in_time else None)


def scored_targets(batch: Batch, target_column: int, config: TrainConfig) -> mx.array:
    """The target hours the losses count: observed, in windows whose last two days the model can read,
    and not a data fault. Both kinds of window teach the model to repair bad data instead of
    forecasting demand, and more years bring more of them (issue 21):

    - A whole day missing from the last two (EIA-930 loses days: PACW lacks 3,900 hours of 2015-2017)
      anchors those hours at the target's mean.
    - A reading the quality checks let through because it lasts for hours (PACW: 22 hours at 17,000
      to 18,800 MW in December 2016, against a median of 2,300) is a target, or yesterday's anchor,
      some 25 standard deviations off: those hours made up most of PACW's training loss (0.50 in its
      first epoch, 0.08 without them). Demand does not move :attr:`TrainConfig.fault_sigmas` standard
      deviations from one day to the next (5: 2,900 MW for PACW, 49,000 MW for ERCO).
    """
    scored = batch.target_mask * recent_readable(batch.mask, target_column)[:, None].astype(batch.target_mask.dtype)
    if config.fault_sigmas is not None:
        change = batch.target - anchor(recent_target(batch.x, batch.mask, target_column), config.horizon)
        scored = scored * (mx.abs(change) <= config.fault_sigmas).astype(scored.dtype)
    return scored


def hour_weights(batch: Batch, scored: mx.array, config: TrainConfig, target_stats: Sequence[float]) -> mx.array:
    """What each scored hour weighs in the point forecast's error: 1, or (mean / actual)² with
    :attr:`TrainConfig.relative_loss`. An actual below a tenth of the mean (a fault the checks let
    through) weighs as a tenth of the mean, so no hour can take over the loss."""
    if not config.relative_loss:
        return scored
    mean, std = target_stats
    actual = mx.maximum(batch.target * std + mean, 0.1 * abs(mean))
    return scored * (abs(mean) / actual) ** 2


def _recent(batch: Batch, target_column: int, holiday: tuple[int, int] | None) -> mx.array:
    return recent_target(batch.x, batch.mask, target_column, future=batch.future, holiday=holiday)


@dataclass(frozen=True)
class Validation:
    loss: float
    """The point forecast's MSE over the split's scored hours (normalized units)."""
    widening: float
    """See :attr:`TrainState.interval_widening`."""


def evaluate_loss(model: Forecaster, store: FeatureStore, config: TrainConfig, split: str, ring: Ring,
                  target_column: int, target_stats: Sequence[float],
                  holiday: tuple[int, int] | None = None) -> Validation:
    """The point forecast's loss over ``split`` (see :func:`hour_weights`) and the widening its
    intervals need; ``target_stats``: the target's (mean, std) in the build."""
    total, weight, outside = 0.0, 0.0, []
    for batch in _batches(store, config, split):
        point, bands = model.forecast(stripe(batch.x, ring), stripe(batch.mask, ring), length=config.seq_len,
                                      ring=ring, recent=_recent(batch, target_column, holiday), future=batch.future)
        scored = scored_targets(batch, target_column, config)
        weights = hour_weights(batch, scored, config, target_stats)
        observed = cast(float, mx.sum(weights).item())
        total += cast(float, masked_mse(point, batch.target, weights).item()) * observed
        weight += observed
        beyond = mx.maximum(bands[:, 0] - batch.target, batch.target - bands[:, -1])
        outside.append(np.array(beyond)[np.array(scored) > 0])
    return Validation(total / weight if weight else float("nan"), interval_widening(np.concatenate(outside)))


COVERAGE = QUANTILES[-1] - QUANTILES[0]
"""The share of hours [P10, P90] should hold: 0.8."""


def interval_widening(beyond: np.ndarray) -> float:
    """How far to move P10 down and P90 up for [P10, P90] to hold :data:`COVERAGE` of the hours whose
    distances outside their interval are ``beyond`` (negative inside): split conformal prediction of
    quantile regression (Romano, Patterson and Candes, 2019). The quantile head learns its bands on
    the training hours, whose errors are smaller than new hours' (the model fits them), so its intervals
    come out too narrow (NYIS, 2019: 77% of hours inside). Negative when they are too wide; 0 for no hours."""
    if beyond.size == 0:
        return 0.0
    k = min(beyond.size, math.ceil((beyond.size + 1) * COVERAGE))  # the k-th smallest: conformal's order
    return float(np.partition(beyond, k - 1)[k - 1])


def first_kept_epoch(epochs: int, *, warm: bool) -> int:
    """The first epoch whose weights may be kept as the best: from random weights, the first after half
    of ``epochs``, when the learning rate has decayed halfway; from a trained model (``warm``), the first.

    A month of validation is noisy: from scratch, an early epoch, its training loss still far above the
    last's, sometimes scores the lowest by chance, and its weights then forecast the months after worse
    (see benchmarks/README.md, Backtest)."""
    return 1 if warm else epochs // 2 + 1


def train(store: FeatureStore, config: TrainConfig, out: Path, *, ring: Ring | None = None, resume: bool = False,
          warm_start: Path | None = None, progress: Callable[[str], object] = print,
          log: RunLog | None = None) -> TrainState:
    """Train (or resume) a forecaster for ``config.entity``; checkpoints and metrics go to ``out``.
    ``warm_start``: begin from the best weights of the model in that folder (same sizes), such as the
    last quarter's in a backtest, instead of random ones. ``log``: record the run (its data and code
    versions, steps, epochs and model files) in the home and the log's trackers, on rank 0; the caller
    finishes it (see :class:`~energy_core.ml.tracking.RunLog`)."""
    ring = ring or Ring()
    log = log if ring.rank == 0 else None
    info = store.latest(config.entity)
    features = config.features or info.features
    config = replace(config, future=known_future(info.features) if config.future is None else list(config.future))
    unknown = [name for name in config.future or () if name not in info.features]
    if unknown:
        raise ConfigError(f"unknown known-future feature(s) {unknown} for {config.entity}; it has {info.features}")
    if info.target not in features:
        raise ConfigError(f"the target {info.target!r} must be among the features: the model corrects its history")
    target_column, holiday = features.index(info.target), holiday_columns(features, config.future or [])
    target_stats = info.stats[info.target]
    if config.seq_len < 72:
        raise ConfigError(f"--seq-len {config.seq_len} is too short: the model reads the last two days, filling "
                          "a missing hour from the day before, so a window needs at least 72 hours")
    _, ts, values, mask = store.arrays(config.entity)
    calendar = _calendar_of(store, info)
    train_windows = len(window_starts(info, ts, "train", config.seq_len, config.horizon, config.stride))
    if train_windows == 0:
        raise ConfigError(f"no training windows of {config.seq_len} + {config.horizon} hours before "
                          f"{info.splits['val_start'][:10]} for {config.entity}; shorten --seq-len or move the split")
    steps_per_epoch = -(-train_windows // config.batch_size)
    mx.random.seed(config.seed)  # every rank starts from the same weights
    model = Forecaster(ModelConfig(len(features), config.d_model, config.n_heads, config.n_layers, config.horizon,
                                   n_future=len(config.future or ()), weekly=config.seq_len >= WEEK))
    warmup = min(config.warmup_steps, steps_per_epoch * config.epochs // 2)
    schedule = optim.join_schedules(
        [optim.linear_schedule(config.learning_rate / 100, config.learning_rate, max(warmup, 1)),
         optim.cosine_decay(config.learning_rate, max(steps_per_epoch * config.epochs - warmup, 1))], [max(warmup, 1)])
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    state = TrainState()
    if warm_start is not None:
        model.load_weights(str(_kept_weights(warm_start, _checkpoint(warm_start))))
    if resume and (out / CHECKPOINT).exists():
        state = load_checkpoint(out, model, optimizer)
        progress(f"resumed {config.entity} from epoch {state.epoch} (step {state.step})")
    if log is not None:
        state.run_id = log.start(run_id=state.run_id or None, phase=RunPhase.RESUME if state.epoch else RunPhase.TRAIN,
                                 config=asdict(config), data=data_version(store, info, ts, values, mask),
                                 code=code_version(), model_dir=out).run_id
        log.resumed(state.epoch, state.best_epoch, state.best_val_loss)

    def loss_fn(model: Forecaster, x: mx.array, mask: mx.array, recent: mx.array, target: mx.array,
                target_mask: mx.array, weights: mx.array, future: mx.array | None) -> tuple[mx.array, mx.array]:
        """The point forecast's MSE (its hours weighed by ``weights``) plus the quantiles' pinball loss
        (which reaches only the quantile head), and the MSE alone, the loss reported."""
        point, bands = model.forecast(x, mask, length=config.seq_len, ring=ring, recent=recent, future=future)
        mse = masked_mse(point, target, weights)
        return mse + masked_pinball(bands, target, target_mask), mse

    step_fn = nn.value_and_grad(model, loss_fn)
    kept_from = first_kept_epoch(config.epochs, warm=warm_start is not None)
    for epoch in range(state.epoch, config.epochs):
        started, losses = time.perf_counter(), []
        for batch in _batches(store, config, "train", shuffle_seed=config.seed * 1000 + epoch):
            scored = scored_targets(batch, target_column, config)
            (_, loss), grads = step_fn(model, stripe(batch.x, ring), stripe(batch.mask, ring),
                                  _recent(batch, target_column, holiday), batch.target, scored,
                                  hour_weights(batch, scored, config, target_stats), batch.future)
            grads, _ = optim.clip_grad_norm(_reduce(grads, ring), config.clip_norm)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            losses.append(loss.item())
            state.step += 1
            if log is not None:
                log.step(StepMetrics(state.step, epoch + 1, losses[-1], float(optimizer.learning_rate.item())))
        validation = evaluate_loss(model, store, config, "val", ring, target_column, target_stats, holiday)
        val = validation.loss
        record = {"epoch": epoch + 1, "step": state.step, "train_loss": float(np.mean(losses)), "val_loss": val,
                  "interval_widening": validation.widening,
                  "learning_rate": float(optimizer.learning_rate.item()), "seconds": time.perf_counter() - started}
        state.history.append(record)
        state.epoch = epoch + 1
        best = (state.epoch >= kept_from and bool(np.isfinite(val))
                and (state.best_val_loss is None or val < state.best_val_loss))
        if best:
            state.best_epoch, state.best_val_loss = state.epoch, val
            state.interval_widening = validation.widening
        if ring.rank == 0:
            save_checkpoint(out, model, optimizer, config, state, info, best=best, calendar=calendar)
            if log is not None:
                log.epoch(EpochMetrics(state.epoch, state.step, record["train_loss"], val, record["learning_rate"],
                                       record["seconds"], best))
            progress(f"epoch {record['epoch']}/{config.epochs}: train loss {record['train_loss']:.4f}, "
                     f"val loss {val:.4f}, lr {record['learning_rate']:.2e}, {record['seconds']:.1f} s")
    if log is not None and state.history:
        names = ("model.safetensors", *(["best.safetensors"] if state.best_epoch else []), "optimizer.safetensors",
                 CHECKPOINT, METRICS)
        log.model(ModelFiles(out.resolve(), tuple(out.resolve() / name for name in names), state.best_epoch))
    return state


def _calendar_of(store: FeatureStore, info: BuildInfo) -> dict:
    """The entity's time zone and states, for the calendar of forecast hours past its stored ones."""
    entity = store.definitions().get(info.entity)
    return {"timezone": entity.timezone, "states": list(entity.states)} if entity else {}


def save_checkpoint(out: Path, model: Forecaster, optimizer: optim.Optimizer, config: TrainConfig,
                    state: TrainState, info: BuildInfo, *, best: bool = False, calendar: dict | None = None) -> None:
    """Weights and optimizer state as safetensors, plus what they were trained on, written atomically;
    with ``best``, the weights are also kept as the best so far (``best.safetensors``). ``calendar``: the
    entity's ``timezone`` and ``states`` (see :func:`energy_core.features.serving.ahead_of`)."""
    out.mkdir(parents=True, exist_ok=True)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(out / "model.tmp.safetensors"), weights)
    mx.save_safetensors(str(out / "optimizer.tmp.safetensors"), dict(tree_flatten(optimizer.state)))
    if best:
        mx.save_safetensors(str(out / "best.tmp.safetensors"), weights)
    meta = {"model": asdict(model.config), "train": asdict(config), "state": asdict(state),
            "feature_store": {"entity": info.entity, "build": info.build, "table_version": info.table_version,
                              "features": config.features or info.features, "target": info.target,
                              "target_stats": info.stats[info.target], "splits": info.splits,
                              "future": list(config.future or ()),
                              "future_stats": {name: info.stats[name] for name in config.future or ()},
                              **(calendar or {})}}
    (out / "checkpoint.tmp.json").write_text(json.dumps(meta, indent=2))
    (out / "metrics.tmp.jsonl").write_text("".join(json.dumps(record) + "\n" for record in state.history))
    for name in ("model.safetensors", "optimizer.safetensors", *(["best.safetensors"] if best else []), METRICS,
                 CHECKPOINT):
        (out / name.replace(".", ".tmp.", 1)).replace(out / name)  # the checkpoint record last: it commits


def load_checkpoint(out: Path, model: Forecaster, optimizer: optim.Optimizer | None = None) -> TrainState:
    meta = json.loads((out / CHECKPOINT).read_text())
    model.load_weights(str(out / "model.safetensors"))
    if optimizer is not None:
        saved = mx.load(str(out / "optimizer.safetensors"))
        assert isinstance(saved, dict), "a .safetensors file loads as a dict of arrays"
        optimizer.state = tree_unflatten(list(saved.items()))
    state = meta["state"]
    return TrainState(**{f.name: state[f.name] for f in fields(TrainState) if f.name in state})


def load_model(out: Path) -> tuple[Forecaster, dict]:
    """A trained model, with the weights of its lowest validation loss (the last epoch's when no epoch
    was validated), and its checkpoint record (configuration, feature-store build, target statistics)."""
    meta = _checkpoint(out)
    model = Forecaster(ModelConfig(**meta["model"]))
    model.load_weights(str(_kept_weights(out, meta)))
    model.eval()
    return model, meta


def _checkpoint(out: Path) -> dict:
    if not (out / CHECKPOINT).exists():
        raise ConfigError(f"no checkpoint in {out}; train one with `energy train`")
    return cast(dict, json.loads((out / CHECKPOINT).read_text()))


def _kept_weights(out: Path, meta: dict) -> Path:
    """The weights of the lowest validation loss, or the last epoch's when no epoch was validated."""
    return out / ("best.safetensors" if meta["state"].get("best_epoch") else "model.safetensors")
