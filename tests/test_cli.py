"""The ``energy`` command line, run the way users run it: as a subprocess."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from energy_core.storage.lake import Lake
from energy_core.storage.schema import KEY
from tests.processes import energy

RANGE = ["--start", "2024-01-01", "--end", "2024-01-31"]


def stored_rows(home: Path) -> pl.DataFrame:
    """Every revision the lake holds, in key order."""
    return Lake(home).revisions().collect().sort([*KEY, "retrieved_at"])


def stored_months(home: Path) -> set[tuple[str, int, int]]:
    """The (dataset, year, month) partitions that hold rows."""
    rows = Lake(home).scan().select("dataset", year=pl.col("ts").dt.year(), month=pl.col("ts").dt.month())
    return set(rows.unique().collect().iter_rows())


def test_plugins_lists_eia_and_lake_as_json():
    result = energy("plugins")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["eia"]["sources"] == ["eia"] and plugins["eia"]["normalizers"] == ["eia"]
    assert plugins["eia"]["distribution"] == "energy-eia" and plugins["eia"]["version"]
    assert plugins["caiso"]["distribution"] == "energy-caiso" and plugins["caiso"]["sources"] == ["caiso"]
    assert plugins["lake"]["sinks"] == ["lake"]
    assert plugins["core_commands"]["hooks"] == ["register_commands"]


def test_simulated_run_then_rerun_commits_nothing(tmp_path):
    first = energy("run", "--source", "eia", "--simulate", "--region", "PACW", "--region", "ERCO", *RANGE,
                   home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 of 2 windows ok" in first.stdout and "gaps: none" in first.stdout
    assert re.search(r"eia\.fuel\s+PACW\s+[1-9][\d,]+\n", first.stdout)
    assert stored_months(tmp_path) == {("eia.region", 2024, 1), ("eia.fuel", 2024, 1)}
    stored, versions = stored_rows(tmp_path), Lake(tmp_path).versions()
    assert set(versions) == {"eia.region", "eia.fuel"}
    again = energy("run", "--source", "eia", "--simulate", "--region", "PACW", "--region", "ERCO", *RANGE,
                   home=tmp_path)
    assert again.returncode == 0 and "0 rows new or changed" in again.stdout and "cache hits" in again.stdout
    assert Lake(tmp_path).versions() == versions, "a re-run committed to the lake"
    assert stored_rows(tmp_path).equals(stored)
    offline = energy("run", "--source", "eia", "--simulate", "--offline", "--region", "PACW", "--region", "ERCO",
                     *RANGE, home=tmp_path)
    assert offline.returncode == 0, offline.stderr
    assert Lake(tmp_path).versions() == versions, "an offline re-run committed to the lake"
    assert stored_rows(tmp_path).equals(stored)


def test_failure_is_one_line_and_nonzero_with_traceback_only_in_debug(tmp_path):
    result = energy("run", "--source", "eia", "--offline", "--region", "PACW", *RANGE, home=tmp_path)
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "not in the raw cache; run once without --offline" in error_lines[0]
    assert "Traceback" not in result.stderr
    debug = energy("--debug", "run", "--source", "eia", "--offline", "--region", "PACW", *RANGE, home=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_unknown_source_suggests_the_known_one(tmp_path):
    result = energy("run", "--source", "eai", "--simulate", home=tmp_path)
    assert result.returncode == 1
    assert "unknown source 'eai'. Did you mean 'eia'?" in result.stderr


def test_end_before_start_is_a_usage_error(tmp_path):
    result = energy("run", "--source", "eia", "--start", "2024-02-01", "--end", "2024-01-01", home=tmp_path)
    assert result.returncode == 1 and "is not after start" in result.stderr


@pytest.mark.parametrize("args", [["cache", "prune"], ["cache", "prune", "--days", "0"]])
def test_cache_prune_reports_what_it_removed(tmp_path, args):
    result = energy(*args, home=tmp_path)
    assert result.returncode == 0 and "removed 0 cached response(s)" in result.stdout


def test_dataset_filter_fetches_only_that_dataset(tmp_path):
    result = energy("run", "--source", "eia", "--simulate", "--region", "PACW", "--dataset", "eia.fuel", *RANGE,
                    home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(Lake(tmp_path).datasets()) == {"eia.fuel"}
    assert stored_months(tmp_path) == {("eia.fuel", 2024, 1)}


def test_dataset_of_no_chosen_source_is_refused(tmp_path):
    result = energy("run", "--source", "eia", "--simulate", "--dataset", "caiso.load", *RANGE, home=tmp_path)
    assert result.returncode == 1 and "belong to none of the sources ['eia']" in result.stderr


def test_storage_failure_stops_the_run_and_keeps_what_was_stored(tmp_path):
    first = energy("run", "--source", "eia", "--simulate", "--region", "PACW", *RANGE, home=tmp_path)
    assert first.returncode == 0, first.stderr
    stored = stored_rows(tmp_path)
    partition = Path(Lake(tmp_path).table_uri("eia.region")) / "year=2024" / "month=2"
    partition.parent.mkdir(parents=True, exist_ok=True)
    partition.write_text("a file where the February partition folder belongs")
    result = energy("run", "--source", "eia", "--simulate", "--region", "PACW", "--start", "2024-01-01",
                    "--end", "2024-02-29", "--refresh", home=tmp_path)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] != []
    assert "Traceback" not in result.stderr
    january = stored_rows(tmp_path).filter(pl.col("ts") < datetime(2024, 2, 1, tzinfo=UTC))
    assert january.equals(stored), "the months stored before the failure are kept as they were"
