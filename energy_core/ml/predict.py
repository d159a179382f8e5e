"""A forecast from a given context or grid: what :func:`energy_core.ml.forecast` does after reading the
store, for callers that read it themselves (the server reads one consistent snapshot)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import polars as pl

from energy_core.errors import ConfigError
from energy_core.features import BuildInfo
from energy_core.features.serving import Context, ahead_of, real_time_context
from energy_core.ml.model import QUANTILES, Forecaster, holiday_columns, recent_target, widened


def predict(model: Forecaster, meta: dict, context: Context, future: mx.array | None = None) -> pl.DataFrame:
    """The ``horizon`` hours after the context's last hour: ``ts``, the target's point forecast (the
    column is named after the target) and its quantiles ``p10``, ``p50`` and ``p90``, in its units.

    :param meta: the checkpoint record :func:`energy_core.ml.load_model` returns with the model; the
        context must hold its ``seq_len`` hours of its features.
    :param future: the known-future inputs of the hours forecast (see
        :func:`energy_core.features.serving.ahead_of`); when not given, the model reads their calendar
        and, for its ``@forecast`` features, none (as if no forecast were stored).
    """
    train, store = meta["train"], meta["feature_store"]
    mean, std = store["target_stats"]
    names = store.get("future", [])
    if names and future is None:
        future = mx.array(_calendar_only(meta, context, names))
    recent = recent_target(context.x, context.mask, context.features.index(store["target"]), future=future,
                           holiday=holiday_columns(context.features, names))
    point, bands = model.forecast(context.x, context.mask, length=train["seq_len"], recent=recent, future=future)
    quantiles = widened(np.array(bands), meta["state"].get("interval_widening", 0.0))[0] * std + mean
    prediction = np.array(point)[0] * std + mean
    first = context.timestamps[-1] + np.timedelta64(1, "h")
    hours = first + np.arange(train["horizon"]).astype("timedelta64[h]")
    frame = pl.DataFrame({"ts": hours.astype("datetime64[us]"), store["target"]: prediction.astype(np.float64),
                          **{f"p{round(q * 100)}": band.astype(np.float64)
                             for q, band in zip(QUANTILES, quantiles, strict=True)}})
    return frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))


def predict_latest(model: Forecaster, meta: dict, info: BuildInfo, ts: np.ndarray, values: np.ndarray,
                   mask: np.ndarray) -> pl.DataFrame:
    """The ``horizon`` hours after the target's latest observed hour of a build's grid (``info``, ``ts``,
    ``values``, ``mask`` as :meth:`energy_core.features.FeatureStore.arrays` returns them, or their last
    hours), with the known-future inputs of those hours: their calendar, and the stored forecasts
    (``@forecast`` features, which may run past the target's end) where the grid holds them."""
    stored = meta["feature_store"]
    seq_len = meta["train"]["seq_len"]
    last = target_end(info, mask, stored["target"])
    if last < seq_len:
        raise ConfigError(f"{stored['entity']} has only {last} hours up to its latest observed {stored['target']}; "
                          f"the model reads {seq_len}: store more history (energy run) before forecasting")
    rows = slice(last - seq_len, last)
    context = real_time_context(info, ts[rows], values[rows], mask[rows], features=stored["features"])
    known = ahead_of(ts, values, mask, info.features, ts[last - 1] + np.timedelta64(1, "h"), meta["train"]["horizon"],
                     names=stored["future"], stats=stored["future_stats"], timezone=_timezone(meta),
                     states=stored.get("states", []))
    return predict(model, meta, context, mx.array(known))


def target_end(info: BuildInfo, mask: np.ndarray, target: str) -> int:
    """The row after ``target``'s last observed hour in a build's grid (0 when none is observed): where a
    forecast issues, before any stored forecasts of the hours ahead."""
    observed = np.flatnonzero(mask[:, info.features.index(target)])
    return int(observed[-1]) + 1 if observed.size else 0


def _calendar_only(meta: dict, context: Context, names: list[str]) -> np.ndarray:
    """The known-future inputs of the hours after ``context``: their calendar, no forecasts."""
    first = context.timestamps[-1] + np.timedelta64(1, "h")
    none = np.zeros((0, 0), dtype=np.float32)
    return ahead_of(context.timestamps[:0], none, none.astype(np.uint8), [], first, meta["train"]["horizon"],
                    names=names, stats=meta["feature_store"]["future_stats"], timezone=_timezone(meta),
                    states=meta["feature_store"].get("states", []))


def _timezone(meta: dict) -> str:
    timezone = meta["feature_store"].get("timezone")
    if timezone is None:
        raise ConfigError(f"the checkpoint of {meta['feature_store']['entity']} records no time zone for the calendar "
                          "of the hours it forecasts (its entity was not defined when it trained); train it again")
    return str(timezone)
