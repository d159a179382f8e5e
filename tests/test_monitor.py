"""``energy monitor``: objectives, pipeline, quality and drift checks; incidents that fire once and
resolve once; the log, webhooks (a real receiver on 127.0.0.1), Prometheus and alerter plugins; and
concurrent triggers that wait or skip without writing.

The home is simulated EIA-930 data for PACW up to the current hour, built once and copied per test.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import polars as pl
import pytest

from energy_core.errors import ConfigError
from energy_core.features import FeatureStore
from energy_core.home import Home
from energy_core.hookspecs import hookimpl
from energy_core.ingest.catalog import Catalog, FinishedRun, RunStatus
from energy_core.ingest.report import WindowOutcome, WindowStatus
from energy_core.ops import issued, jobs
from energy_core.ops.locks import StoreBusyError
from energy_core.ops.monitor import MonitorSettings, Objective, check, create_alerters
from energy_core.ops.monitor.alerters import WEBHOOK_TOKEN, WebhookAlerter, close_all
from energy_core.ops.monitor.incidents import MonitorPaths, history
from energy_core.ops.monitor.settings import parse_duration
from energy_core.plugin.alerting import AlertContext, Alerter, AlertStatus, AlertUpdate, CheckKind
from energy_core.plugin.interfaces import Window
from energy_core.plugin.manager import get_plugin_manager
from energy_core.storage.flags import FLAG_SCHEMA, save
from energy_core.storage.lake import Lake
from energy_core.storage.lock import StoreLock
from energy_core.storage.schema import COLUMNS, POLARS_SCHEMA
from tests.processes import child_env, energy, energy_command

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
"""The simulated data's last hour starts one hour before this."""
SOON = NOW + timedelta(minutes=10)
DEMAND = Objective("eia.region", ("PACW",), "demand", max_age=timedelta(hours=3), max_gap=timedelta(hours=2))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("monitored")
    report = jobs.ingest_source(home, "eia", regions=["PACW"], datasets=["eia.region"], days=10, simulate=True,
                                now=NOW)
    assert report.ok, report.failed
    FeatureStore(home).build(["PACW"])
    return home


@pytest.fixture
def home(built, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built, copy)
    return copy


class Recorder(Alerter):
    """An alerter plugin that keeps what it is sent."""

    name = "recorder"
    updates: ClassVar[list[AlertUpdate]] = []

    def send(self, update: AlertUpdate) -> None:
        self.updates.append(update)


class RecorderPlugin:
    @hookimpl
    def register_alerters(self) -> list[type[Alerter]]:
        return [Recorder]


@pytest.fixture
def recorder() -> Iterator[list[AlertUpdate]]:
    Recorder.updates = []
    yield Recorder.updates


def alerters(home: Path, *plugins: object, **context) -> list[Alerter]:
    return create_alerters(get_plugin_manager(extra=plugins), AlertContext(home=home, **context))


def settings(*objectives: Objective, **limits) -> MonitorSettings:
    return MonitorSettings(objectives=objectives or (DEMAND,), **limits)


# -- objectives ---------------------------------------------------------------------------------------


def test_an_alert_fires_once_per_incident_and_resolves_once_when_it_clears(home, recorder, caplog):
    sent = alerters(home, RecorderPlugin())
    stale = check(home, settings(), sent, now=NOW + timedelta(hours=5))
    assert not stale.ok
    [failure] = stale.failures
    assert failure.kind is CheckKind.FRESHNESS and failure.subject == "eia.region PACW demand"
    assert "5.0 h old (objective: at most 3 h)" in failure.summary
    [fired] = stale.fired
    assert [a.incident for a in recorder[0].alerts] == [fired.incident]
    assert "alert firing [freshness]" in caplog.text

    again = check(home, settings(), sent, now=NOW + timedelta(hours=6))
    assert not again.ok and again.fired == () and [a.incident for a in again.open] == [fired.incident]
    assert recorder[1].alerts == () and [a.incident for a in recorder[1].open] == [fired.incident]

    cleared = check(home, settings(), sent, now=SOON)
    assert cleared.ok and cleared.open == ()
    [resolved] = cleared.resolved
    assert resolved.incident == fired.incident and resolved.status is AlertStatus.RESOLVED
    assert [a.status for a in recorder[2].alerts] == [AlertStatus.RESOLVED]
    assert [(a.incident, a.status) for a in history(home)] == [(fired.incident, AlertStatus.FIRING),
                                                               (fired.incident, AlertStatus.RESOLVED)]
    assert check(home, settings(), sent, now=SOON).resolved == () and recorder[3].alerts == ()


def test_completeness_names_the_longest_gap_and_a_stored_null_is_missing(tmp_path):
    hours = [NOW - timedelta(hours=h) for h in range(1, 49) if not 20 <= h <= 23]  # 4 hours never stored
    values = [None if ts == NOW - timedelta(hours=24) else 100.0 for ts in hours]  # and a null beside them
    Lake(tmp_path).upsert(pl.DataFrame({
        "ts": hours, "source": "eia", "dataset": "eia.region", "region": "PACW", "series": "demand",
        "value": values, "unit": "MWh", "retrieved_at": NOW}, schema=POLARS_SCHEMA).select(COLUMNS))
    first_missing = NOW - timedelta(hours=24)
    gap = Objective("eia.region", ("PACW",), "demand", max_gap=timedelta(hours=2))
    [result] = check(tmp_path, settings(gap), [], now=SOON).failures
    assert result.kind is CheckKind.COMPLETENESS and result.value == 5.0
    assert (f"5 h missing from {first_missing:%Y-%m-%d %H}:00 to {NOW - timedelta(hours=20):%Y-%m-%d %H}:00 UTC"
            in result.summary)
    assert check(tmp_path, settings(Objective("eia.region", (), "demand", max_gap=timedelta(hours=5))), [],
                 now=SOON).ok
    assert check(tmp_path, settings(Objective("eia.region", (), "demand", max_gap=timedelta(hours=2),
                                              within=timedelta(hours=12))), [], now=SOON).ok  # the gap is older


def test_an_objective_for_data_never_stored_says_what_to_do(home):
    missing = settings(Objective("eia.region", ("ERCO",), max_age=timedelta(hours=3)),
                       Objective("eia.fule", (), max_gap=timedelta(hours=2)))
    region, dataset = check(home, missing, [], now=SOON).failures
    assert region.subject == "eia.region ERCO" and "no stored value; check the region's code" in region.summary
    assert dataset.kind is CheckKind.COMPLETENESS
    assert "nothing stored for eia.fule (datasets stored: eia.region)" in dataset.summary


def test_objectives_are_read_from_words_and_tables_and_bad_ones_are_refused():
    parsed = Objective.parse("dataset=eia.region region=PACW region=CISO series=demand max_age=3h max_gap=90m")
    assert parsed == Objective("eia.region", ("PACW", "CISO"), "demand", timedelta(hours=3), timedelta(minutes=90))
    assert Objective.from_mapping({"dataset": "eia.region", "region": "PACW", "max_age": "1h30m"}).max_age == \
        timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad, words in [({"dataset": "eia.region"}, "sets neither max_age"),
                       ({"dataset": "eia.region", "max_age": "3"}, "max_age must be a duration such as 3h"),
                       ({"dataset": "eia.region", "max_age": 3}, "max_age must be a duration"),
                       ({"dataset": "eia.region", "max_age": "0h"}, "longer than zero"),
                       ({"dataset": "eia.region", "max_age": "3h", "maxgap": "1h"}, "no setting(s) ['maxgap']"),
                       ({"dataset": "eia.region", "max_age": "3h", "regions": "PACW"}, "a list of region codes"),
                       ({"max_age": "3h"}, "names its dataset")]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            Objective.from_mapping(bad)
    with pytest.raises(ConfigError, match="is not key=value"):
        Objective.parse("dataset=eia.region 3h")


# -- runs, quality, drift --------------------------------------------------------------------------------


def record_run(home: Path, run_id: str, outcomes: list[WindowOutcome], status: RunStatus) -> None:
    catalog = Catalog(home)
    try:
        catalog.begin_run(run_id, command="energy run --source eia", started_at=datetime.now(UTC), config={},
                          plugins={}, windows=[o.spec for o in outcomes])
        catalog.finish_run(FinishedRun(run_id, status, NOW, 0, outcomes, stored=set(), found_stored=[],
                                       series_rows={}))
    finally:
        catalog.close()


def test_failed_and_quota_stopped_windows_fail_until_a_run_stores_them(home):
    january = Window("eia", "eia.region", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC),
                     ("PACW",))
    later = Window("eia", "eia.fuel", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC), ("PACW",))
    quota = "eia: the service asks to wait 3600 s (more than the 120 s cap); run again later"
    record_run(home, "20990101T000000000000Z", [
        WindowOutcome(january, WindowStatus.FAILED, error=quota),
        WindowOutcome(later, WindowStatus.SKIPPED, error=f"not attempted after: {quota}")], RunStatus.FAILED)
    failing = {(f.kind, f.subject): f for f in check(home, settings(), [], now=SOON).failures}
    assert set(failing) == {(CheckKind.RUN, "newest run"), (CheckKind.WINDOW, "eia.region PACW"),
                            (CheckKind.QUOTA, "eia.fuel PACW")}
    assert "failed: energy run --source eia" in failing[(CheckKind.RUN, "newest run")].summary
    assert "1 window(s) failed and are pending, the latest 2024-01-01 to 2024-01-04" in \
        failing[(CheckKind.WINDOW, "eia.region PACW")].summary
    assert "were not attempted" in failing[(CheckKind.QUOTA, "eia.fuel PACW")].summary

    report = jobs.ingest_source(home, "eia", regions=["PACW"], days=1, simulate=True, now=NOW)  # resumes both
    assert report.ok and report.resumed == 2
    after = check(home, settings(), [], now=SOON)
    assert after.ok and {(a.kind, a.subject) for a in after.resolved} == set(failing)


def test_recent_quality_flags_fail_and_old_or_gap_flags_do_not(home):
    def flag(check_name: str, days_ago: float) -> dict:
        end = NOW - timedelta(days=days_ago)
        return {"check": check_name, "dataset": "eia.region", "region": "PACW", "series": "demand",
                "start": end - timedelta(hours=47), "end": end, "hours": 48, "detail": "value 1234.0 for 48 h"}

    save(pl.DataFrame([flag("stuck", 1), flag("outlier", 30), flag("gap", 1)], schema=FLAG_SCHEMA), home)
    [failure] = check(home, settings(), [], now=SOON).failures
    assert failure.kind is CheckKind.QUALITY and failure.subject == "stuck eia.region PACW demand"
    assert "1 stuck span(s) in the last 7 days" in failure.summary and "value 1234.0 for 48 h" in failure.summary
    assert check(home, settings(quality_days=0), [], now=SOON).ok


def issue(home: Path, scale: float, issued_at: datetime) -> None:
    """A day-ahead forecast of PACW's last built day: the actual values times ``scale``."""
    actual = FeatureStore(home).frame("PACW").select("ts", "eia.demand").tail(24)
    model = issued.ModelIdentity(path="models/PACW", digest="0" * 16, epoch=1, entity="PACW", trained_build=1)
    frame = actual.with_columns(pl.col("eia.demand") * scale)
    issued.record(home, issued.Issue.of(frame, entity="PACW", issuer=issued.Issuer.CLI, model=model,
                                        feature_build=1, issued_at=issued_at))


def test_drift_fires_when_issued_forecasts_fall_behind_the_seasonal_naive_baselines(home):
    issue(home, 1.0, NOW - timedelta(days=1))
    [good] = [c for c in check(home, settings(), [], now=SOON).checks if c.kind is CheckKind.DRIFT]
    assert good.ok and good.subject == "PACW" and good.value == 0.0 and "over 24 hours (1 issue(s))" in good.summary
    issue(home, 1.3, NOW - timedelta(hours=12))  # 30% too high: far worse than yesterday's or last week's hour
    report = check(home, settings(), [], now=SOON)
    [drift] = report.failures
    assert drift.kind is CheckKind.DRIFT and drift.value == pytest.approx(15.0, abs=0.01)  # mean of 0% and 30%
    assert "over 48 hours (2 issue(s))" in drift.summary and "retrain it" in drift.summary
    assert drift.threshold is not None and drift.threshold < drift.value
    assert check(home, settings(drift_min_hours=100), [], now=SOON).ok  # too few hours to judge


# -- alert delivery --------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers with ``statuses`` in turn (200 once they run out)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[int, dict, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.posts.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/private-path-4711"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self) -> list[list[tuple[str, str]]]:
        """The (status, subject) of the alerts of each POST that was taken."""
        return [[(a["status"], a["subject"]) for a in body["alerts"]] for status, _, body in self.posts
                if status == 200]


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(WebhookAlerter, "backoff_s", 0.01)


SUBJECT = "eia.region PACW demand"


def test_a_webhook_receives_each_alert_once_retrying_a_receiver_that_fails_for_a_while(home, fast_retries):
    token = "tok-9f8e7d6c5b4a"
    with Receiver(503, 502) as receiver:
        sent = alerters(home, webhooks=(receiver.url,), env={WEBHOOK_TOKEN: token})
        stale = check(home, settings(), sent, now=NOW + timedelta(hours=5))
        assert [status for status, _, _ in receiver.posts] == [503, 502, 200]
        assert stale.delivery == {"log": None, f"webhook http://127.0.0.1:{receiver.server.server_port}": None}
        check(home, settings(), sent, now=NOW + timedelta(hours=6))  # still failing: nothing new to send
        check(home, settings(), sent, now=SOON)
    assert receiver.alerts() == [[("firing", SUBJECT)], [("resolved", SUBJECT)]]
    _, headers, body = receiver.posts[-1]
    assert headers["Authorization"] == f"Bearer {token}" and headers["Content-Type"] == "application/json"
    assert body["source"] == "energy" and body["status"] == "resolved" and body["open"] == 0
    assert body["alerts"][0]["incident"] == stale.fired[0].incident
    assert body["text"].startswith("[resolved] freshness eia.region PACW demand: ")
    kept = "".join(p.read_text() for p in MonitorPaths.of(home).root.glob("*") if p.is_file())
    assert token not in kept and "private-path-4711" not in kept


def test_an_alert_a_receiver_did_not_take_is_sent_at_the_next_check(home, fast_retries):
    with Receiver(*[500] * WebhookAlerter.attempts) as receiver:
        sent = alerters(home, webhooks=(receiver.url,))
        first = check(home, settings(), sent, now=NOW + timedelta(hours=5))
        [(where, why)] = [(w, e) for w, e in first.delivery.items() if e]
        assert where == f"webhook http://127.0.0.1:{receiver.server.server_port}"
        assert why == f"{where} did not take the alerts after 4 attempts (last: HTTP 500)"
        assert "private-path-4711" not in json.dumps(first.to_json())
        assert receiver.alerts() == []
        later = check(home, settings(), sent, now=NOW + timedelta(hours=6))  # the receiver is back
        assert later.fired == () and all(e is None for e in later.delivery.values())
    assert receiver.alerts() == [[("firing", SUBJECT)]]


def test_a_receiver_that_refuses_is_not_retried(home, fast_retries):
    with Receiver(404) as receiver:
        report = check(home, settings(), alerters(home, webhooks=(receiver.url,)), now=NOW + timedelta(hours=5))
    assert len(receiver.posts) == 1
    assert "refused the alerts (HTTP 404); check its URL" in next(e for e in report.delivery.values() if e)


def test_an_alerter_that_breaks_changes_neither_the_checks_nor_the_other_alerters(home, recorder):
    class Broken(Alerter):
        name = "broken"

        def send(self, update: AlertUpdate) -> None:
            raise RuntimeError("receiver exploded")

    class BrokenPlugin:
        @hookimpl
        def register_alerters(self) -> list[type[Alerter]]:
            return [Broken]

    report = check(home, settings(), alerters(home, BrokenPlugin(), RecorderPlugin()), now=NOW + timedelta(hours=5))
    assert not report.ok and len(report.fired) == 1
    assert report.delivery["broken"] == "RuntimeError: receiver exploded" and report.delivery["recorder"] is None
    assert [a.status for a in recorder[0].alerts] == [AlertStatus.FIRING]


def test_a_bad_webhook_url_is_refused_before_anything_is_checked(home):
    with pytest.raises(ConfigError, match="--webhook: ftp://example.org/x is not an http:// or https:// URL"):
        alerters(home, webhooks=("ftp://example.org/x",))


def test_a_corrupt_state_is_set_aside_and_its_incidents_fire_again(home, caplog):
    check(home, settings(), [], now=NOW + timedelta(hours=5))
    paths = MonitorPaths.of(home)
    paths.state.write_text("{not json")
    again = check(home, settings(), [], now=NOW + timedelta(hours=6))
    assert len(again.fired) == 1 and "was unreadable" in caplog.text
    assert [p.name for p in paths.root.glob("state.json.corrupt-*")]


# -- Prometheus ----------------------------------------------------------------------------------------


def test_the_metrics_file_holds_the_home_and_the_monitor(home):
    path = home / "textfile" / "energy.prom"
    sent = alerters(home, metrics_file=path)
    try:
        check(home, settings(), sent, now=NOW + timedelta(hours=5))
    finally:
        close_all(sent)
    text = path.read_text()
    assert 'energy_monitor_check_ok{kind="freshness",subject="eia.region PACW demand"} 0.0' in text
    assert 'energy_monitor_open_incidents{kind="freshness"} 1.0' in text and "energy_monitor_alerts_fired_total 1.0" \
        in text
    assert 'energy_freshness_lag_seconds{dataset="eia.region",region="PACW"}' in text  # the home's own metrics


def test_serve_metrics_checks_again_and_again_until_stopped(home):
    objective = "dataset=eia.region region=PACW series=demand max_age=3h"
    process = subprocess.Popen(energy_command("monitor", "--serve-metrics", "0", "--interval", "1", "--objective",
                                              objective, "--home", str(home)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", line)
        assert url, line + (process.stderr.read() if process.poll() is not None else "")
        deadline, text = time.monotonic() + 30, ""
        while "energy_monitor_alerts_fired_total" not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            text = httpx.get(url.group(1), timeout=5).text
        assert 'energy_monitor_check_ok{kind="freshness",subject="eia.region PACW demand"} 1.0' in text
        assert 'energy_runs{status="ok"} 1.0' in text
        stamp = re.compile(r"^energy_monitor_last_check_timestamp_seconds (\S+)$", re.M)
        first = float(stamp.search(text).group(1))
        while time.monotonic() < deadline:
            time.sleep(0.3)
            latest = stamp.search(httpx.get(url.group(1), timeout=5).text)
            if latest and float(latest.group(1)) > first:
                break
        else:
            pytest.fail("no second check within 30 s")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.count("ok: every check passed") >= 2 and "stopped" in err


# -- the command -----------------------------------------------------------------------------------------


def test_energy_monitor_exits_0_when_every_check_passes_and_1_printing_each_failure(home, tmp_path):
    with Receiver() as receiver:
        config = tmp_path / "energy.toml"
        config.write_text(f'[monitor]\nwebhooks = ["{receiver.url}"]\n\n'
                          '[[monitor.objectives]]\ndataset = "eia.region"\nseries = "demand"\nregions = ["PACW"]\n'
                          'max_age = "3h"\nmax_gap = "2h"\n\n[[monitor.objectives]]\ndataset = "eia.region"\n'
                          'regions = ["ERCO"]\nmax_age = "3h"\n')
        failing = energy("--config", str(config), "monitor", home=home)
        assert failing.returncode == 1, failing.stderr
        assert "FAIL freshness eia.region ERCO: no stored value" in failing.stdout
        assert "fired: freshness eia.region ERCO" in failing.stdout
        assert failing.stderr.splitlines() == ["WARNING energy_core.ops.monitor.alerters: alert firing [freshness] "
                                               "eia.region ERCO: no stored value; check the region's code, or run "
                                               "`energy run` for its source"]
        as_json = energy("--config", str(config), "monitor", "--json", home=home)
        report = json.loads(as_json.stdout)
        assert as_json.returncode == 1 and as_json.stderr == ""  # still failing: nothing new to say
        assert report["ok"] is False and report["fired"] == []
        assert [f["subject"] for f in report["failures"]] == ["eia.region ERCO"]
        assert [a["subject"] for a in report["open"]] == ["eia.region ERCO"]
        passing = energy("--config", str(config), "monitor", "--objective",
                         "dataset=eia.region region=PACW max_age=3h", home=home)
        assert passing.returncode == 0, passing.stderr
        assert "ok: every check passed" in passing.stdout and "resolved: freshness eia.region ERCO" in passing.stdout
    assert receiver.alerts() == [[("firing", "eia.region ERCO")], [("resolved", "eia.region ERCO")]]


def test_a_bad_objective_in_energy_toml_is_named(home, tmp_path):
    config = tmp_path / "energy.toml"
    config.write_text('[[monitor.objectives]]\ndataset = "eia.region"\nmax_age = "three hours"\n')
    result = energy("--config", str(config), "monitor", home=home)
    assert result.returncode == 2
    assert "max_age must be a duration such as 3h, 90m, 2d or 1h30m, not 'three hours'" in result.stderr


# -- concurrent triggers -------------------------------------------------------------------------------


def release_after(lock: StoreLock, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), lock.__exit__(None, None, None)))
    thread.start()
    return thread


def test_a_second_monitor_waits_for_the_first_and_skips_after_its_wait(home):
    lock = StoreLock(MonitorPaths.of(home).lock).__enter__()
    with pytest.raises(StoreBusyError, match=r"energy monitor skipped: .* is locked by pid \d+.*waited 0.3 s"):
        check(home, settings(), [], now=SOON, wait_s=0.3)
    assert not MonitorPaths.of(home).state.exists()
    thread = release_after(lock, 0.5)
    assert check(home, settings(), [], now=SOON, wait_s=10).ok
    thread.join()


def test_an_ingest_waits_for_the_store_lock_and_skips_having_written_nothing(home):
    def runs() -> int:
        catalog = Catalog(home)
        try:
            return len(catalog.runs())
        finally:
            catalog.close()

    before = runs()
    lock = StoreLock(Home(home).processed_lock).__enter__()
    with pytest.raises(StoreBusyError, match=r"ingest of eia skipped: .*\.lake\.lock is locked by pid \d+"):
        jobs.ingest_source(home, "eia", regions=["PACW"], datasets=["eia.region"], days=1, simulate=True,
                           wait_s=0.3)
    assert runs() == before
    thread = release_after(lock, 0.5)
    report = jobs.ingest_source(home, "eia", regions=["PACW"], datasets=["eia.region"], days=1, simulate=True,
                                wait_s=10)
    thread.join()
    assert report.ok and runs() == before + 1


def test_energy_monitor_skipped_by_another_exits_75(home):
    lock = StoreLock(MonitorPaths.of(home).lock).__enter__()
    try:
        result = energy("monitor", "--wait", "0", home=home)
    finally:
        lock.__exit__(None, None, None)
    assert result.returncode == 75 and "energy monitor skipped" in result.stderr
