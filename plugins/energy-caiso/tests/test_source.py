"""The CAISO source against its simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from energy_caiso import source as source_module
from energy_caiso.archive import OasisError
from energy_caiso.reports import OASIS_DATASETS
from energy_caiso.simulator import CaisoSimulator
from energy_caiso.source import OASIS_BUDGET, CaisoSource, oasis_params

from energy_core.errors import SourceUnavailableError
from energy_core.ingest.runner import RunConfig, run
from energy_core.plugin.interfaces import FetchRequest, SourceContext, Window
from energy_core.storage.lake import Lake
from energy_core.storage.schema import KEY
from energy_core.testing import http_client

MARCH = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))


def window(dataset: str, span=MARCH) -> Window:
    return Window("caiso", dataset, *span)


def batches(source: CaisoSource, win: Window) -> list:
    return list(source.fetch(win))


def test_windows_never_exceed_31_days_over_long_ranges(sim, make_source):
    source = make_source(sim)
    request = FetchRequest(datetime(2022, 12, 15, tzinfo=UTC), datetime(2025, 2, 3, tzinfo=UTC),
                           datasets=("caiso.load", "caiso.lmp"))
    windows = source.plan(request)
    assert all(w.end - w.start <= timedelta(days=31) for w in windows)
    assert windows[0].start == request.start and windows[-1].end == request.end
    spans = sorted({(w.start, w.end) for w in windows})
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous, no overlap


def test_oasis_parameters_use_gmt_stamps_and_the_report_version():
    params = dict(oasis_params(OASIS_DATASETS["caiso.lmp"][0], *MARCH))
    assert params["startdatetime"] == "20240301T00:00-0000" and params["enddatetime"] == "20240401T00:00-0000"
    assert (params["queryname"], params["version"], params["resultformat"]) == ("PRC_LMP", "12", "6")
    assert params["node"] == "TH_NP15_GEN-APND,TH_SP15_GEN-APND,TH_ZP26_GEN-APND"


def test_every_oasis_dataset_fetches_and_normalizes(sim, make_source):
    from energy_caiso.normalize import CaisoNormalizer

    from energy_core.storage.schema import validate_observations

    source = make_source(sim)
    for dataset in OASIS_DATASETS:
        for batch in batches(source, window(dataset)):
            out = validate_observations(CaisoNormalizer().normalize(batch))
            system = out.filter(region="CAISO.HUB.NP15" if dataset == "caiso.lmp" else "CISO")
            assert system.height and system["ts"].min() == MARCH[0], dataset
            assert system.group_by("series").len()["len"].max() == 744, dataset  # every UTC hour, DST or not


def test_requests_respect_the_real_oasis_budget_on_a_fake_clock(fake_clock):
    stamps: list[float] = []
    with CaisoSimulator(min_interval_s=0) as sim, http_client(
            "caiso", OASIS_BUDGET, sleep=fake_clock.sleep, clock=fake_clock.clock) as http:
        original = sim.handle

        def stamped(request):
            stamps.append(fake_clock.now)
            return original(request)

        sim.handle = stamped
        source = CaisoSource(SourceContext(http=http, env=sim.env()))
        batches(source, window("caiso.load_forecast"))  # DAM, 2DA and 7DA: three OASIS requests
    assert len(stamps) == 3
    assert [b - a for a, b in itertools.pairwise(stamps)] == pytest.approx([5.0, 5.0])


def test_the_429_page_is_retried_after_the_pause_it_asks_for_never_parsed(make_source):
    waits: list[float] = []
    with CaisoSimulator(min_interval_s=60) as sim:  # every request after the first is "too fast"
        source = make_source(sim, sleep=waits.append)
        batches(source, window("caiso.load"))
        with pytest.raises(SourceUnavailableError, match="HTTP 429"):
            batches(source, window("caiso.renewables_forecast"))
    retries = [w for w in waits if w >= 1]  # the rest are the budget's own short waits
    assert len(retries) == 3 and all(5.0 <= w <= 6.0 for w in retries)


def test_no_data_answer_is_an_empty_window_not_a_failure(make_source):
    with CaisoSimulator(history_start=date(2024, 6, 1)) as sim:
        assert batches(make_source(sim), window("caiso.load")) == []


def test_a_refused_parameter_is_terminal_and_names_it(sim, make_source, monkeypatch):
    def iso_dashes(report, start, end):
        return [*report.params(), ("startdatetime", start.isoformat()), ("enddatetime", end.isoformat())]

    monkeypatch.setattr(source_module, "oasis_params", iso_dashes)
    with pytest.raises(OasisError, match="ERR_CODE 1002.*startdatetime/enddatetime must look like"):
        batches(make_source(sim), window("caiso.load"))
    assert len(sim.requests) == 1


def test_more_than_31_days_is_refused_by_the_simulator_like_oasis(sim, make_source):
    source = make_source(sim)
    long = window("caiso.load", (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 10, tzinfo=UTC)))
    with pytest.raises(OasisError, match="ERR_CODE 1004"):
        batches(source, long)


def test_fuelmix_fetches_each_pacific_day_with_its_own_utc_span(sim, make_source):
    found = batches(make_source(sim), window("caiso.fuelmix", (datetime(2024, 3, 9, 8, tzinfo=UTC),
                                                               datetime(2024, 3, 11, 7, tzinfo=UTC))))
    assert [(b.window.start, b.window.end - b.window.start) for b in found] == [
        (datetime(2024, 3, 9, 8, tzinfo=UTC), timedelta(hours=24)),
        (datetime(2024, 3, 10, 8, tzinfo=UTC), timedelta(hours=23)),
    ]


def test_two_source_simulated_run_aligns_ciso_and_reruns_identically(tmp_path):
    config = RunConfig(sources=("eia", "caiso"), start=datetime(2024, 11, 1, tzinfo=UTC),
                       end=datetime(2024, 11, 8, tzinfo=UTC), home=tmp_path, regions=("CISO",),
                       datasets=("eia.region", "caiso.load", "caiso.fuelmix"), simulate=True)
    first = run(config)
    assert first.ok, first.failed
    lake = Lake(tmp_path)
    versions, stored = lake.versions(), lake.revisions().collect().sort([*KEY, "retrieved_at"])
    eia, caiso = lake.scan("eia.region").collect(), lake.scan("caiso.load").collect()
    eia_hours = eia.filter(region="CISO", series="demand")["ts"].sort()
    caiso_hours = caiso.filter(region="CISO", series="load")["ts"].sort()
    assert eia_hours.equals(caiso_hours) and len(eia_hours) == 7 * 24  # fall-back week, one row per UTC hour
    second = run(config)
    assert second.ok and second.rows_stored == 0
    assert lake.versions() == versions, "the re-run committed to the lake"
    assert lake.revisions().collect().sort([*KEY, "retrieved_at"]).equals(stored)


def test_its_regions_are_the_system_its_tac_areas_and_hubs_and_name_what_the_simulator_stores():
    from energy_caiso import synthetic
    from energy_caiso.api import HUB_NODES, TAC_AREAS
    from energy_caiso.reports import region

    known = set(CaisoSource.known_regions({}))
    assert known == {"CISO", *(f"CAISO.TAC.{a}" for a in TAC_AREAS), *(f"CAISO.HUB.{h}" for h in HUB_NODES.values())}
    assert {region("caiso.load", area) for area in synthetic.TAC_LOAD} <= known
    assert {region("caiso.renewables_forecast", hub) for hub in synthetic.HUBS} <= known
