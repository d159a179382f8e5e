"""The latest forecast and the live context of each entity, cached until new data or a new model lands.

Each entity's latest hours are held as one snapshot of its feature export (see
:mod:`energy_core.ops.live`), keyed by the export file's identity: a request stats the file (a few
microseconds) and reads it again only when a build replaced it. The first request after a build reads
the new export (once, however many ask); requests that arrive while it is being read are answered from
the previous snapshot, so a build never stalls readers. A forecast is keyed by (checkpoint
record identity, snapshot identity). The first request after either changed computes the new forecast
(one computation however many requests arrive: single flight) and records it in the issued-forecast
log; requests that arrive while it is being computed get the previous forecast, marked stale, so a
build never stalls readers. With no previous forecast, they wait for the one being computed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from fastapi.concurrency import run_in_threadpool

from energy_core.errors import ConfigError, StorageError
from energy_core.home import Home
from energy_core.ops import issued, live
from energy_core.serve.answers import Answers
from energy_core.serve.errors import ApiError
from energy_core.serve.flights import SingleFlight
from energy_core.serve.formats import Encoded, Format, encode

logger = logging.getLogger(__name__)

ForecastKey = tuple[live.Stamp, live.Stamp]
"""(checkpoint record, feature export) identities."""


@dataclass(frozen=True)
class Forecast:
    """A computed forecast, ready to send; or the error every request for its key gets."""

    key: ForecastKey
    issue: issued.Issue | None
    body: bytes = b""
    etag: str = ""
    error: ApiError | None = None


@dataclass(frozen=True)
class ServedForecast:
    forecast: Forecast
    stale: bool
    """A newer forecast is being computed; this is the previous one."""


class LiveService:
    """Snapshots, forecasts and context answers of one home. Used from the server's event loop; the
    model runs on one thread of its own (MLX), file reads on the thread pool."""

    def __init__(self, home: Home, *, max_hours: int, context_cache_bytes: int = 64 * 2**20) -> None:
        self.home = home
        self.max_hours = max_hours
        self.computed = 0
        """Forecasts computed so far (each one issued and logged)."""
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="energy-model")
        self._snapshots: dict[str, live.Snapshot] = {}
        self._reads: SingleFlight[tuple[str, live.Stamp], live.Snapshot] = SingleFlight()
        self._forecasts: dict[str, Forecast] = {}
        self._computing: SingleFlight[tuple[str, ForecastKey], Forecast] = SingleFlight()
        self._models: dict[str, tuple[live.Stamp, Any, dict]] = {}
        self._answers = Answers(context_cache_bytes)
        self._encoding: SingleFlight[tuple[live.Stamp, int, Format], Encoded] = SingleFlight()

    def close(self) -> None:
        self._model_thread.shutdown(wait=False, cancel_futures=True)

    # -- snapshots -----------------------------------------------------------------------------------

    async def snapshot(self, entity: str) -> live.Snapshot:
        """The entity's latest hours (up to ``max_hours``), read again only after a build replaced them."""
        return (await self._snapshot(entity, wait=True))[0]

    async def _snapshot(self, entity: str, *, wait: bool) -> tuple[live.Snapshot, bool]:
        """:meth:`snapshot`, and whether it is the previous one: unless ``wait``, while a newer build is
        being read (by an earlier request), the snapshot held until then is answered at once."""
        try:
            stamp = live.stamp(live.export_path(self.home, entity))
        except live.UnknownEntityError as exc:
            raise _unknown(self.home, str(exc)) from None
        if stamp is None:
            raise _unknown(self.home, f"no features built for entity {entity!r}; build them with `energy features "
                                      f"build --entity {entity}` or `energy run`")
        held = self._snapshots.get(entity)
        if held is not None and held.stamp == stamp:
            return held, False
        if held is not None and not wait and self._reads.running((entity, stamp)):
            return held, True
        try:
            snapshot = await self._reads.run((entity, stamp), lambda: run_in_threadpool(
                live.read, self.home, entity, self.max_hours))
        except live.UnknownEntityError as exc:  # removed since the stat
            raise _unknown(self.home, str(exc)) from None
        held = self._snapshots.get(entity)
        if held is None or snapshot.info.build >= held.info.build:
            self._snapshots[entity] = snapshot
        return snapshot, False

    # -- context ---------------------------------------------------------------------------------------

    async def context(self, entity: str, hours: int, fmt: Format) -> Encoded:
        """The last ``hours`` of the entity's features in their units (null where unobserved)."""
        snapshot, _ = await self._snapshot(entity, wait=False)
        key = (snapshot.stamp, hours, fmt)
        answer = self._answers.get(key)
        if answer is None:
            answer = await self._encoding.run(key, lambda: run_in_threadpool(_context_answer, snapshot.last(hours),
                                                                            fmt))
            self._answers.keep(key, answer)
        return answer

    # -- forecasts -------------------------------------------------------------------------------------

    async def forecast(self, entity: str) -> ServedForecast:
        snapshot, previous = await self._snapshot(entity, wait=False)
        model_dir = self.home.model(entity)
        checkpoint = live.stamp(model_dir / issued.CHECKPOINT)
        if checkpoint is None:
            raise ApiError(404, f"no model for entity {entity!r}: train one with `energy train --entity {entity}` "
                                f"(it writes {issued.CHECKPOINT} under <home>/models/{entity})",
                           models=_trained(self.home))
        held = self._forecasts.get(entity)
        if previous and (held is None or held.key != (checkpoint, snapshot.stamp)):
            snapshot, previous = await self.snapshot(entity), False  # no forecast of the previous build: wait
            held = self._forecasts.get(entity)
        key = (checkpoint, snapshot.stamp)
        if held is not None and held.key == key:
            return ServedForecast(_ok(held), stale=previous)
        if held is not None and held.error is None and self._computing.running((entity, key)):
            return ServedForecast(held, stale=True)
        computed = await self._computing.run((entity, key), lambda: self._compute(entity, key, snapshot))
        return ServedForecast(_ok(computed), stale=False)

    async def _compute(self, entity: str, key: ForecastKey, snapshot: live.Snapshot) -> Forecast:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._model_thread, self._issue, entity, key, snapshot)
        except ModuleNotFoundError as exc:
            result = Forecast(key, None, error=ApiError(
                503, f"forecasts need {exc.name}, which is not installed here: pip install 'energy-core[ml]'"))
        except ConfigError as exc:  # the model and the data disagree (features, hours): cached until either changes
            result = Forecast(key, None, error=ApiError(409, f"cannot forecast {entity}: {exc}"))
        except StorageError as exc:  # not cached: the next request tries again
            raise ApiError(503, f"the forecast for {entity} was not issued: {exc}") from None
        held = self._forecasts.get(entity)
        if held is None or _newer(result, held):
            self._forecasts[entity] = result
        return result

    def _issue(self, entity: str, key: ForecastKey, snapshot: live.Snapshot) -> Forecast:
        """On the model thread: forecast from ``snapshot``, record the issue, and encode the answer."""
        from energy_core.features.serving import real_time_context  # MLX: the [ml] extra
        from energy_core.ml import load_model
        from energy_core.ml.predict import predict, predict_latest, target_end

        model_dir = self.home.model(entity)
        held = self._models.get(entity)
        if held is None or held[0] != key[0]:
            model, meta = load_model(model_dir)
            self._models[entity] = held = (key[0], model, meta)
        _, model, meta = held
        seq_len = meta["train"]["seq_len"]
        # the window ends at the target's last hour, before any stored forecasts of the hours ahead
        end = target_end(snapshot.info, snapshot.mask, snapshot.info.target)
        needed = seq_len + (len(snapshot.ts) - end if meta["feature_store"].get("future") and end else 0)
        if len(snapshot.ts) < needed and self.max_hours < needed:  # a window longer than the hours kept
            snapshot = live.read(self.home, entity, needed)
        if len(snapshot.ts) < seq_len:
            raise ConfigError(f"the build holds {len(snapshot.ts)} hours and the model reads {seq_len}")
        if meta["feature_store"].get("future"):  # its calendar and the stored weather forecasts of the hours ahead
            frame = predict_latest(model, meta, snapshot.info, snapshot.ts, snapshot.values, snapshot.mask)
        else:
            window = snapshot.last(seq_len)
            context = real_time_context(window.info, window.ts, window.values, window.mask,
                                        features=meta["feature_store"]["features"])
            frame = predict(model, meta, context)
        issue = issued.Issue.of(frame, entity=entity, issuer=issued.Issuer.API,
                                model=issued.ModelIdentity.of(model_dir), feature_build=snapshot.info.build)
        issued.record(self.home, issue)
        self.computed += 1
        logger.info("forecast issued for %s: build %d, model %s (epoch %d)", entity, snapshot.info.build,
                    issue.model.digest, issue.model.epoch)
        return Forecast(key, issue, _forecast_body(issue), f'"{issue.model.digest}-{snapshot.info.build}-'
                                                            f'{issue.issued_at:%Y%m%dT%H%M%S%f}"')


def _ok(forecast: Forecast) -> Forecast:
    if forecast.error is not None:
        raise forecast.error
    return forecast


def _newer(result: Forecast, held: Forecast) -> bool:
    """Whether ``result`` may replace ``held``: forecasts finish in the order they started (one model
    thread), so only an error never replaces a forecast of newer data."""
    if result.issue is None or held.issue is None:
        return True
    return (result.issue.feature_build or 0, result.issue.issued_at) >= (held.issue.feature_build or 0,
                                                                          held.issue.issued_at)


def _forecast_body(issue: issued.Issue) -> bytes:
    return json.dumps({
        "entity": issue.entity, "target": issue.target, "issued_at": issue.issued_at.isoformat(),
        "data_through": issue.data_through.isoformat(), "feature_build": issue.feature_build,
        "model": {"digest": issue.model.digest, "epoch": issue.model.epoch, "trained_build": issue.model.trained_build},
        "horizon": len(issue.ts), "forecast": forecast_frame(issue).with_columns(
            pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")).to_dicts(),
    }).encode()


def forecast_frame(issue: issued.Issue) -> pl.DataFrame:
    """``ts``, ``value`` and the quantiles the model gave (``p10``, ``p50``, ``p90``), one row per hour."""
    return pl.DataFrame({"ts": list(issue.ts), "value": list(issue.values), **issue.bands},
                        schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64,
                                **dict.fromkeys(issue.bands, pl.Float64)})


def _context_answer(snapshot: live.Snapshot, fmt: Format) -> Encoded:
    info = snapshot.info
    first, last = (snapshot.ts[0], snapshot.ts[-1]) if len(snapshot.ts) else (None, None)
    return encode(snapshot.frame(), fmt, {
        "entity": info.entity, "feature_build": info.build, "built_at": info.built_at, "target": info.target,
        "hours": len(snapshot.ts), "first_ts": _iso(first), "last_ts": _iso(last)})


def _iso(moment: np.datetime64 | None) -> str | None:
    if moment is None:
        return None
    instant: datetime = moment.astype("datetime64[us]").item()
    return instant.replace(tzinfo=UTC).isoformat()


def _unknown(home: Home, message: str) -> ApiError:
    return ApiError(404, message, entities=live.built_entities(home))


def _trained(home: Home) -> list[str]:
    return [entity for entity in live.built_entities(home) if (home.model(entity) / issued.CHECKPOINT).exists()]
