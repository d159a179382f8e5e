"""Scores on a held-out split against seasonal-naive baselines, and forecasts from the live context."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np
import polars as pl

from energy_core.features import BuildInfo, FeatureStore
from energy_core.features.serving import future_inputs, known_window, normalized, window_starts
from energy_core.features.vintages import Vintages
from energy_core.ml.model import QUANTILES, holiday_columns, recent_target, widened
from energy_core.ml.predict import predict, predict_latest
from energy_core.ml.train import load_model

BASELINES = {"same hour yesterday": 24, "same hour last week": 168}
BANDS = tuple(f"p{round(q * 100)}" for q in QUANTILES)
"""The columns of the forecast quantiles: p10, p50, p90 (a baseline's are prefixed by its name)."""


@dataclass(frozen=True)
class Scores:
    mae: float
    rmse: float
    mape: float
    hours: int


def score(predicted: np.ndarray, actual: np.ndarray) -> Scores:
    """MAE, RMSE and MAPE (percent; hours with zero actual left out of MAPE) over paired hours."""
    error = predicted - actual
    nonzero = actual != 0
    return Scores(float(np.abs(error).mean()), float(np.sqrt((error ** 2).mean())),
                  float(np.abs(error[nonzero] / actual[nonzero]).mean() * 100), int(actual.size))


def evaluate(store: FeatureStore, checkpoint: Path, *, split: str = "test", batch_size: int = 16) -> dict:
    """The model's and the baselines' scores on every forecast of ``split``, in the target's units.

    Every hour scored is one the model forecast, whose actual value was observed and for which both
    baselines had an observed value to offer, so all three are judged on the same hours.
    """
    return scores(held_out_forecasts(store, checkpoint, split=split, batch_size=batch_size))


@dataclass(frozen=True)
class IntervalScores:
    coverage: float
    """Share of hours inside [P10, P90], in percent (80 when calibrated)."""
    pinball: float
    """Mean pinball loss of P10, P50 and P90, in the target's units (lower is better)."""


def scores(hours: pl.DataFrame) -> dict[str, Scores]:
    """The model's and each baseline's scores over the hours of :func:`held_out_forecasts`."""
    actual = hours["actual"].to_numpy()
    return {name: score(hours[name].to_numpy(), actual) for name in ("model", *BASELINES)}


def interval_scores(hours: pl.DataFrame) -> dict[str, IntervalScores]:
    """Coverage and pinball loss of the model's quantiles and of each baseline's empirical ones, over the
    hours of :func:`held_out_forecasts`."""
    actual = hours["actual"].to_numpy()
    result = {}
    for name, prefix in (("model", ""), *((baseline, f"{baseline} ") for baseline in BASELINES)):
        bands = np.stack([hours[f"{prefix}{band}"].to_numpy() for band in BANDS])
        error = actual[None, :] - bands
        q = np.array(QUANTILES)[:, None]
        inside = (bands[0] <= actual) & (actual <= bands[-1])
        result[name] = IntervalScores(float(inside.mean() * 100), float(np.maximum(q * error, (q - 1) * error).mean()))
    return result


def against_best_baseline(scored: dict[str, Scores]) -> tuple[str, float]:
    """The baseline with the lowest MAPE, and how much lower the model's MAPE is, in percent of it
    (negative when the model is worse; minus infinity when the baseline is exact and the model is not)."""
    best = min(BASELINES, key=lambda name: scored[name].mape)
    if scored[best].mape == 0:  # a series that repeats itself exactly, such as a simulator's
        return best, 0.0 if scored["model"].mape == 0 else -math.inf
    return best, 100 * (1 - scored["model"].mape / scored[best].mape)


def held_out_forecasts(store: FeatureStore, checkpoint: Path, *, split: str = "test",
                       batch_size: int = 16, point_in_time: bool = False) -> pl.DataFrame:
    """Back-to-back forecasts over ``split``: ts, actual, model, its quantiles (:data:`BANDS`) and each
    baseline with its empirical quantiles (its value plus the quantiles of its errors over the year
    before validation: a seasonal-naive forecaster's honest interval), on the scored hours.

    ``point_in_time``: the model and the baselines read each forecast's inputs as they were known when it
    was issued (see :mod:`energy_core.features.vintages`); actual values are the latest."""
    model, meta = load_model(checkpoint)
    entity, train = meta["feature_store"]["entity"], meta["train"]
    info, ts, values, mask = store.arrays(entity)
    features = meta["feature_store"]["features"]
    columns = [info.features.index(f) for f in features]
    target = info.features.index(meta["feature_store"]["target"])
    data = normalized(info, values, mask, columns)
    mean, std = meta["feature_store"]["target_stats"]
    widening = meta["state"].get("interval_widening", 0.0)
    seq_len, horizon = train["seq_len"], train["horizon"]
    future = meta["feature_store"].get("future", [])  # none in a checkpoint older than known-future inputs
    picked, holiday = [info.features.index(f) for f in future], holiday_columns(features, future)
    ahead = future_inputs(values[:, picked], mask[:, picked], meta["feature_store"]["future_stats"], future) \
        if future else None
    starts = window_starts(info, ts, split, seq_len, horizon, horizon)  # back-to-back 24-hour forecasts
    replaced = store.vintages(entity) if point_in_time else None
    scored, predicted, quantiles, baselines = [], [], [], []
    for i in range(0, len(starts), batch_size):
        rows = starts[i: i + batch_size]
        if replaced is not None:
            windows = [known_window(info, ts, values, mask, replaced, s, seq_len, columns) for s in rows]
            x, m = mx.array(np.stack([w for w, _ in windows])), mx.array(np.stack([o for _, o in windows]))
        else:
            x = mx.array(np.stack([data[s: s + seq_len] for s in rows]))
            m = mx.array(np.stack([mask[s: s + seq_len][:, columns] for s in rows]))
        known = None if ahead is None else mx.array(np.stack([ahead[s + seq_len: s + seq_len + horizon] for s in rows]))
        recent = recent_target(x, m, features.index(meta["feature_store"]["target"]), future=known, holiday=holiday)
        point, bands = model.forecast(x, m, length=seq_len, recent=recent, future=known)
        out, out_bands = np.array(point) * std + mean, widened(np.array(bands), widening) * std + mean
        for k, s in enumerate(rows):
            hours = np.arange(s + seq_len, s + seq_len + horizon)
            past, seen, lo = _known_past(values, mask, replaced, ts, s + seq_len, target)
            usable = mask[hours, target].astype(bool)
            for lag in BASELINES.values():
                within = (hours - lag >= lo) & (hours - lag - lo < len(past))
                usable &= within & seen[np.clip(hours - lag - lo, 0, len(past) - 1)].astype(bool)
            scored.append(hours[usable])
            predicted.append(out[k][usable])
            quantiles.append(out_bands[k][:, usable])
            baselines.append(np.stack([past[hours[usable] - lag - lo] for lag in BASELINES.values()]).reshape(
                len(BASELINES), -1))
    if not scored or not np.concatenate(scored).size:
        raise ValueError(f"no {split} hours to score for {entity}")
    hours = np.concatenate(scored)
    frame = pl.DataFrame({"ts": ts[hours], "actual": values[hours, target].astype(np.float64),
                          "model": np.concatenate(predicted).astype(np.float64),
                          **dict(zip(BANDS, np.concatenate(quantiles, axis=1).astype(np.float64), strict=True))})
    errors = _baseline_error_quantiles(info, ts, values[:, target], mask[:, target])
    for name, baseline in zip(BASELINES, np.concatenate(baselines, axis=1).astype(np.float64), strict=True):
        frame = frame.with_columns(pl.Series(name, baseline),
                                   *(pl.Series(f"{name} {band}", baseline + offset)
                                     for band, offset in zip(BANDS, errors[name], strict=True)))
    return frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))


def _known_past(values: np.ndarray, mask: np.ndarray, known: Vintages | None, ts: np.ndarray, issue_row: int,
                target: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The target's values and mask before the forecast issued at row ``issue_row``, as known then (``known``)
    or the latest, from the earliest row a baseline reads; and that row."""
    if known is None:
        return values[:, target], mask[:, target], 0
    lo = max(0, issue_row - max(BASELINES.values()))
    past, seen = values[lo: issue_row].copy(), mask[lo: issue_row].copy()
    known.patch(past, seen, lo, ts[issue_row])
    return past[:, target], seen[:, target], lo


def _baseline_error_quantiles(info: BuildInfo, ts: np.ndarray, target: np.ndarray,
                              observed: np.ndarray) -> dict[str, np.ndarray]:
    """Each baseline's :data:`QUANTILES` of (actual - baseline) over the year before validation."""
    val = int(np.searchsorted(ts, np.datetime64(info.splits["val_start"][:19], "us")))
    hours = np.arange(max(max(BASELINES.values()), val - 8766), val)
    result = {}
    for name, lag in BASELINES.items():
        usable = observed[hours].astype(bool) & observed[hours - lag].astype(bool)
        if not usable.any():
            raise ValueError(f"no hours before {info.splits['val_start'][:10]} to measure the errors of {name!r}")
        result[name] = np.quantile(target[hours[usable]] - target[hours[usable] - lag], QUANTILES)
    return result


def forecast(store: FeatureStore, checkpoint: Path) -> pl.DataFrame:
    """The next ``horizon`` hours after the target's latest stored hour (the issue time), from the
    real-time context and, for a model that reads them, the known-future inputs of those hours (see
    :func:`~energy_core.ml.predict.predict_latest` and :func:`~energy_core.ml.predict.predict` for the
    columns)."""
    model, meta = load_model(checkpoint)
    stored = meta["feature_store"]
    if not stored.get("future"):  # an older model: it reads the latest stored hours only
        context = store.get_real_time_context(stored["entity"], lookback_hours=meta["train"]["seq_len"],
                                              features=stored["features"])
        return predict(model, meta, context)
    return predict_latest(model, meta, *store.arrays(stored["entity"]))
