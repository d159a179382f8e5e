"""A forecast from a given context: what :func:`energy_core.ml.forecast` does after reading the live
context, for callers that read the context themselves (the server reads one consistent snapshot)."""

from __future__ import annotations

import numpy as np
import polars as pl

from energy_core.features.serving import Context
from energy_core.ml.model import QUANTILES, Forecaster, recent_target


def predict(model: Forecaster, meta: dict, context: Context) -> pl.DataFrame:
    """The ``horizon`` hours after the context's last hour: ``ts``, the target's point forecast (the
    column is named after the target) and its quantiles ``p10``, ``p50`` and ``p90``, in its units.

    :param meta: the checkpoint record :func:`energy_core.ml.load_model` returns with the model; the
        context must hold its ``seq_len`` hours of its features.
    """
    train, store = meta["train"], meta["feature_store"]
    mean, std = store["target_stats"]
    recent = recent_target(context.x, context.mask, context.features.index(store["target"]))
    point, bands = model.forecast(context.x, context.mask, length=train["seq_len"], recent=recent)
    prediction, quantiles = np.array(point)[0] * std + mean, np.array(bands)[0] * std + mean
    first = context.timestamps[-1] + np.timedelta64(1, "h")
    hours = first + np.arange(train["horizon"]).astype("timedelta64[h]")
    frame = pl.DataFrame({"ts": hours.astype("datetime64[us]"), store["target"]: prediction.astype(np.float64),
                          **{f"p{round(q * 100)}": band.astype(np.float64)
                             for q, band in zip(QUANTILES, quantiles, strict=True)}})
    return frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
