"""The forecast is recomputed when new data or a new model lands, once however many ask, and cached until then."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx

from energy_core.features import FeatureStore
from energy_core.home import Home
from energy_core.ops.issued import issued
from energy_core.serve.formats import Format
from energy_core.serve.live import LiveService

from .conftest import ENTITY, store_days, train_tiny


async def _concurrently(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(client.get(url) for _ in range(n)))


def test_new_data_is_forecast_once_however_many_ask_and_readers_never_wait_for_it(server, home):
    url = f"{server.url}/v1/forecast/{ENTITY}"
    cold = asyncio.run(_concurrently(url, 20))
    assert {r.status_code for r in cold} == {200} and server.live.computed == 1  # no forecast yet: all waited for one
    assert len({r.content for r in cold}) == 1 and not any("x-energy-stale" in r.headers for r in cold)

    store_days(home, datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 2, 12, tzinfo=UTC))
    FeatureStore(home).build([ENTITY])
    after = asyncio.run(_concurrently(url, 20))
    assert {r.status_code for r in after} == {200}
    assert server.live.computed == 2, "one computation for the new build, whatever the concurrency"
    builds = {r.json()["feature_build"] for r in after}
    assert builds == {1, 2}, "the request that found the new build waited for it; the others got the previous one"
    for r in after:  # the previous forecast, while the new one is computed, says it is stale
        assert (r.headers.get("x-energy-stale") == "true") == (r.json()["feature_build"] == 1)
    latest = server.get(f"/v1/forecast/{ENTITY}")
    assert latest.json()["feature_build"] == 2 and "x-energy-stale" not in latest.headers
    assert latest.json()["data_through"] == "2024-02-11T23:00:00+00:00"
    log = issued(home, ENTITY)
    assert sorted(set(log["feature_build"])) == [1, 2] and log.height == 48


def test_a_new_model_is_forecast_with_at_once(server, home):
    first = server.get(f"/v1/forecast/{ENTITY}").json()
    train_tiny(home, seed=7)
    second = server.get(f"/v1/forecast/{ENTITY}").json()
    assert second["model"]["digest"] != first["model"]["digest"] and second["feature_build"] == first["feature_build"]
    assert second["forecast"] != first["forecast"] and server.live.computed == 2
    assert list(dict.fromkeys(issued(home, ENTITY)["model_digest"])) == [first["model"]["digest"],
                                                                          second["model"]["digest"]]


def test_a_model_that_cannot_read_the_features_is_a_409_until_either_changes(server, home):
    checkpoint = home / "models" / ENTITY / "checkpoint.json"
    checkpoint.write_text(checkpoint.read_text().replace('"eia.interchange"', '"eia.gone"'))
    for _ in range(2):
        answer = server.get(f"/v1/forecast/{ENTITY}")
        assert answer.status_code == 409 and "eia.gone" in answer.json()["error"]
    assert server.live.computed == 0 and issued(home, ENTITY).height == 0
    train_tiny(home)
    assert server.get(f"/v1/forecast/{ENTITY}").status_code == 200


def test_readers_are_answered_from_the_previous_build_while_a_new_one_is_read(home):
    """A build never stalls readers: the first request after it reads the new export, and every request
    that arrives meanwhile gets the previous build at once (its forecast marked stale)."""
    service = LiveService(Home.of(home), max_hours=1000)

    async def scenario() -> None:
        before = json.loads((await service.context(ENTITY, 24, Format.JSON)).body)["feature_build"]
        assert not (await service.forecast(ENTITY)).stale

        store_days(home, datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 2, 12, tzinfo=UTC))
        FeatureStore(home).build([ENTITY])
        first = asyncio.ensure_future(service.context(ENTITY, 24, Format.JSON))
        await asyncio.sleep(0)  # the first request after the build has started reading it
        meanwhile = json.loads((await service.context(ENTITY, 24, Format.JSON)).body)
        forecast = await service.forecast(ENTITY)
        assert meanwhile["feature_build"] == before, "answered from the previous build, without waiting"
        assert forecast.stale and forecast.forecast.issue.feature_build == before

        after = json.loads((await first).body)
        assert after["feature_build"] == before + 1 and after["last_ts"] == "2024-02-11T23:00:00+00:00"
        assert json.loads((await service.context(ENTITY, 24, Format.JSON)).body)["feature_build"] == before + 1
        latest = await service.forecast(ENTITY)
        assert not latest.stale and latest.forecast.issue.feature_build == before + 1

    try:
        asyncio.run(scenario())
    finally:
        service.close()
