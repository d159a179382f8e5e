"""The issued-forecast log: every forecast kept with its issue time, never overwritten, read back by entity
and time; ``energy forecast`` records what it issues too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from energy_core.errors import ConfigError
from energy_core.ops.issued import (
    ISSUED_SCHEMA,
    Issue,
    Issuer,
    ModelIdentity,
    accuracy,
    compact,
    entities,
    issued,
    record,
)
from tests.processes import energy

from .conftest import ENTITY

START = datetime(2024, 2, 10, tzinfo=UTC)


def _issue(home, entity: str, at: datetime, values: list[float]) -> Issue:
    frame = pl.DataFrame({"ts": [START + timedelta(hours=h) for h in range(len(values))], "eia.demand": values})
    return Issue.of(frame, entity=entity, issuer=Issuer.API, model=ModelIdentity.of(home / "models" / ENTITY),
                    feature_build=3, issued_at=at)


def test_issues_are_kept_apart_and_read_back_by_time(home):
    jan, feb = datetime(2026, 1, 31, 23, tzinfo=UTC), datetime(2026, 2, 1, 1, tzinfo=UTC)
    for at, values in ((jan, [1.0, 2.0]), (feb, [3.0, 4.0]), (feb, [5.0, 6.0])):  # the same instant twice
        record(home, _issue(home, ENTITY, at, values))
    everything = issued(home, ENTITY)
    assert everything.schema == ISSUED_SCHEMA and everything.height == 6
    assert sorted(everything["value"].to_list()) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # nothing overwritten
    row = everything.row(0, named=True)
    assert row["data_through"] == START - timedelta(hours=1) and row["lead_hours"] == 1 and row["feature_build"] == 3
    assert row["model_epoch"] == 1 and row["issuer"] == "api" and row["target"] == "eia.demand"
    since = issued(home, ENTITY, since=feb)
    assert since.group_by("issue_id", maintain_order=True).agg("value")["value"].to_list() in (
        [[3.0, 4.0], [5.0, 6.0]], [[5.0, 6.0], [3.0, 4.0]])  # one issue after the other
    assert issued(home, ENTITY, until=feb)["value"].to_list() == [1.0, 2.0]
    assert issued(home, "OTHER").height == 0 and entities(home) == [ENTITY]
    months = sorted(p.name for p in (home / "forecasts" / f"entity={ENTITY}").iterdir())
    assert months == ["month=2026-01", "month=2026-02"]


def test_a_month_once_over_is_merged_into_one_file_and_reads_the_same(home):
    january = [datetime(2026, 1, day, hour, tzinfo=UTC) for day in (3, 17) for hour in (0, 12)]
    for n, at in enumerate(january):
        record(home, _issue(home, ENTITY, at, [float(n), float(n) + 0.5]))
    before = issued(home, ENTITY)
    month = home / "forecasts" / f"entity={ENTITY}" / "month=2026-01"
    assert len(list(month.glob("*.parquet"))) == 4, "one file per issue while the month lasts"

    record(home, _issue(home, ENTITY, datetime(2026, 2, 1, 1, tzinfo=UTC), [9.0]))  # the first issue of February
    assert [p.name.startswith("compacted-") for p in month.glob("*.parquet")] == [True]
    assert issued(home, ENTITY, until=datetime(2026, 2, 1, tzinfo=UTC)).equals(before)
    assert issued(home, ENTITY).height == before.height + 1


def test_a_compaction_cut_short_shows_no_issue_twice(home):
    for day in (3, 4):
        record(home, _issue(home, ENTITY, datetime(2026, 1, day, tzinfo=UTC), [1.0, 2.0]))
    month = home / "forecasts" / f"entity={ENTITY}" / "month=2026-01"
    parts = sorted(month.glob("*.parquet"))
    copies = {part: part.read_bytes() for part in parts}
    assert compact(home, ENTITY, before=datetime(2026, 2, 1, tzinfo=UTC)) == 1
    for part, content in copies.items():  # as if the merged file was written and the process died
        part.write_bytes(content)
    assert issued(home, ENTITY).height == 4 and issued(home, ENTITY)["issue_id"].n_unique() == 2


def test_an_entity_name_cannot_leave_the_log(home):
    record(home, _issue(home, "../../evil", datetime(2026, 1, 1, tzinfo=UTC), [1.0]))
    assert entities(home) == ["../../evil"] and issued(home, "../../evil").height == 1
    assert [p.name for p in (home / "forecasts").iterdir()] == ["entity=..%2F..%2Fevil"]


def test_a_naive_time_is_refused(home):
    with pytest.raises(ConfigError, match="timezone-aware"):
        issued(home, ENTITY, since=datetime(2026, 1, 1))


def test_accuracy_counts_only_hours_whose_actual_is_known(home):
    record(home, _issue(home, ENTITY, datetime(2026, 1, 1, tzinfo=UTC), [110.0, 90.0, 50.0]))
    actual = pl.DataFrame({"ts": [START, START + timedelta(hours=1)], "actual": [100.0, 100.0]},
                          schema={"ts": pl.Datetime("us", "UTC"), "actual": pl.Float64})
    scored = accuracy(issued(home, ENTITY), actual)
    assert scored is not None and (scored.hours, scored.issues) == (2, 1)
    assert scored.mae == pytest.approx(10.0) and scored.mape == pytest.approx(10.0)
    assert accuracy(issued(home, ENTITY), actual.clear()) is None


def test_energy_forecast_records_what_it_issues(home):
    result = energy("forecast", "--entity", ENTITY, home=home)
    assert result.returncode == 0, result.stderr
    log = issued(home, ENTITY)
    assert log.height == 24 and set(log["issuer"]) == {"cli"} and set(log["feature_build"]) == {1}
    printed = [float(line.split()[1]) for line in result.stdout.splitlines()]
    assert printed == pytest.approx(log["value"].to_list(), abs=0.06)
    assert log["model_digest"][0] == ModelIdentity.of(home / "models" / ENTITY).digest
