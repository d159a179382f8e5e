"""``energy store migrate`` and ``energy store vacuum``, run as users run them: a home of energy 0.2 (partitioned
Parquet, written here with polars the way that version wrote it) becomes the lake with nothing lost."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from energy_core.home import LOCAL_HOME_VARIABLE, Home
from energy_core.storage.lake import Lake
from energy_core.storage.schema import COLUMNS, KEY, POLARS_SCHEMA
from tests.processes import energy

MONTHS = {"eia.region": [(2024, 1), (2024, 2)], "eia.fuel": [(2023, 12), (2024, 1)], "weather.hourly": [(2024, 1)]}
SERIES = {"eia.region": ("eia", ["PACW", "ERCO"], ["demand", "net_generation"], "MWh"),
          "eia.fuel": ("eia", ["PACW"], ["gen.wind", "gen.solar"], "MWh"),
          "weather.hourly": ("weather", ["PACW.portland"], ["temperature_2m"], "degC")}
NULL_KEY = {"dataset": "eia.region", "region": "ERCO", "series": "demand", "ts": datetime(2024, 2, 3, 5, tzinfo=UTC)}


def month_rows(dataset: str, year: int, month: int, rng: random.Random) -> pl.DataFrame:
    """A month of hourly rows as energy 0.2 stored them: full-precision floats, one retrieval time per region
    (to the microsecond), in arrival order (not sorted)."""
    source, regions, series, unit = SERIES[dataset]
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range((end - start) // timedelta(hours=1))]
    rows = [{"ts": ts, "source": source, "dataset": dataset, "region": region, "series": name,
             "value": rng.uniform(-50, 20_000), "unit": unit,
             "retrieved_at": end + timedelta(days=index, microseconds=123_457 * (index + 1))}
            for index, region in enumerate(regions) for name in series for ts in hours]
    rng.shuffle(rows)
    frame = pl.DataFrame(rows, schema=POLARS_SCHEMA)
    is_null_key = pl.all_horizontal(pl.col(k) == v for k, v in NULL_KEY.items())
    return frame.with_columns(value=pl.when(is_null_key).then(None).otherwise(pl.col("value")))


def write_old_home(root: Path) -> pl.DataFrame:
    """A home in the layout of energy 0.2, with the leftovers that version could leave (its lock file, a
    temporary file of an interrupted write); returns every row it holds."""
    rng = random.Random(16)
    frames = []
    for dataset, months in MONTHS.items():
        for year, month in months:
            folder = root / "processed" / dataset / f"year={year:04d}" / f"month={month:02d}"
            folder.mkdir(parents=True)
            frame = month_rows(dataset, year, month, rng)
            frame.select(COLUMNS).write_parquet(folder / "data.parquet", compression="zstd")
            frames.append(frame)
    (root / "processed" / ".lock").write_text("")
    (root / "processed" / "eia.region" / "year=2024" / "month=01" / ".tmp-5f1c.parquet").write_bytes(b"PAR1")
    rows = pl.concat(frames)
    assert rows.filter(pl.col("value").is_null()).height == 1
    return rows


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_lake_holds(home: Home, old: pl.DataFrame) -> None:
    """Row for row: the lake's latest values are the old rows (keys, values with their null, retrieval times,
    sources and units), and no value has a second revision."""
    lake = Lake(home)
    assert lake.datasets() == sorted(MONTHS)
    for dataset in MONTHS:
        stored = lake.scan(dataset).collect().sort(KEY)
        expected = old.filter(pl.col("dataset") == dataset).sort(KEY)
        assert stored.schema == expected.schema
        assert stored.equals(expected), dataset
    assert lake.revisions().filter(pl.col("superseded_at").is_not_null()).collect().height == 0


def migrated_folder(root: Path) -> Path:
    (kept,) = root.glob("processed.migrated-*")
    return kept


def test_migrate_moves_an_old_home_into_the_lake_row_for_row(lake_home):
    """A local home, then this machine's old home moved into a team's bucket (its lake on loopback S3)."""
    home, root, target = lake_home, lake_home.root, str(lake_home)
    old = write_old_home(root)
    old_files = files_of(root / "processed")
    env = {LOCAL_HOME_VARIABLE: str(root)} if home.lake else {}

    result = energy("store", "migrate", "--home", target, env=env)

    assert result.returncode == 0, result.stderr
    months = sum(map(len, MONTHS.values()))
    assert f"migrated 3 dataset(s) (eia.fuel, eia.region, weather.hourly), {months} month(s), {old.height:,} rows" \
        in result.stdout
    assert f"({months} month(s) written); every row checked against the lake" in result.stdout
    assert_lake_holds(home, old)
    kept = migrated_folder(root)
    assert f"the old store is kept at {kept}" in result.stdout
    assert not (root / "processed").exists() and files_of(kept) == old_files, "the old store was not kept intact"

    again = energy("store", "migrate", "--home", target, env=env)
    assert again.returncode == 0 and "nothing to migrate" in again.stdout
    status = energy("status", "--dataset", "eia.region", "--home", target, env=env)
    assert status.returncode == 0, status.stderr
    assert "ERCO" in status.stdout and "PACW" in status.stdout


@pytest.mark.parametrize("point", ["lake_before_commit", "lake_after_commit"])
def test_a_migration_killed_mid_way_finishes_when_run_again(point, tmp_path):
    old = write_old_home(tmp_path)

    killed = energy("store", "migrate", "--home", str(tmp_path), env={"ENERGY_FAULT": point})

    assert killed.returncode == -9, killed.stderr
    committed = point == "lake_after_commit"
    assert Lake(tmp_path).versions() == {"eia.fuel": 1 if committed else 0}  # version 0 creates it, empty
    assert (tmp_path / "processed").is_dir() and not list(tmp_path.glob("processed.migrated-*"))
    blocked = energy("status", "--home", str(tmp_path))
    assert blocked.returncode == 1 and "energy store migrate" in blocked.stderr

    rerun = energy("store", "migrate", "--home", str(tmp_path))

    assert rerun.returncode == 0, rerun.stderr
    already = ", 1 already there" if committed else ""
    assert f"({5 - committed} month(s) written{already})" in rerun.stdout
    assert_lake_holds(Home(tmp_path), old)
    assert Lake(tmp_path).versions()["eia.fuel"] == 2, "the month committed before the crash was written again"
    migrated_folder(tmp_path)


def test_a_lake_holding_other_values_is_refused_with_nothing_lost(tmp_path):
    old = write_old_home(tmp_path)
    old_files = files_of(tmp_path / "processed")
    revised = old.filter(pl.col("dataset") == "eia.region").sort(KEY).head(1) \
        .with_columns(value=pl.col("value") + 1, retrieved_at=pl.col("retrieved_at") + timedelta(hours=1))
    Lake(tmp_path).upsert(revised)
    before = Lake(tmp_path).versions()

    result = energy("store", "migrate", "--home", str(tmp_path))

    assert result.returncode == 1
    key = revised.row(0, named=True)
    assert (f"already holds 1 key(s) of the old store with other values, e.g. eia.region {key['region']} "
            f"{key['series']} {key['ts']:%Y-%m-%dT%H:%MZ}") in result.stderr
    assert "nothing was written and the old store is untouched" in result.stderr
    assert Lake(tmp_path).versions() == before
    assert Lake(tmp_path).scan().collect().equals(revised)
    assert files_of(tmp_path / "processed") == old_files


def test_commands_that_read_the_store_ask_for_the_migration_first(tmp_path):
    write_old_home(tmp_path)
    for command in (["status"], ["query", "SELECT 1"], ["features", "build"],
                    ["run", "--source", "eia", "--simulate", "--no-features"]):
        result = energy(*command, "--home", str(tmp_path))
        assert result.returncode == 1, command
        assert f"{tmp_path / 'processed'} holds a store in the layout of energy 0.2" in result.stderr, command
        assert f"`energy store migrate --home {tmp_path}`" in result.stderr, command
    assert not (tmp_path / "lake").exists()


def test_nothing_to_migrate(tmp_path):
    result = energy("store", "migrate", "--home", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"nothing to migrate: {tmp_path / 'processed'} holds no store in the layout of energy 0.2" in result.stdout
    assert not (tmp_path / "lake").exists()


def test_vacuum_deletes_replaced_files_only_when_asked_and_every_revision_stays_readable(tmp_path):
    first = month_rows("eia.region", 2024, 1, random.Random(1))
    lake = Lake(tmp_path)
    lake.upsert(first)
    revision = first.head(3).with_columns(value=pl.col("value") * 2, retrieved_at=pl.col("retrieved_at")
                                          + timedelta(days=30))
    lake.upsert(revision)  # rewrites the month: its first file leaves the table
    table_dir = tmp_path / "lake" / "eia.region"
    data_files = set(table_dir.rglob("*.parquet"))
    assert len(data_files) == 2

    too_short = energy("store", "vacuum", "--retention-hours", "0", "--home", str(tmp_path))
    assert too_short.returncode == 1 and "--allow-short-retention" in too_short.stderr
    kept_by_default = energy("store", "vacuum", "--home", str(tmp_path))
    assert kept_by_default.returncode == 0 and "would delete 0 file(s) older than 168 h" in kept_by_default.stdout
    dry = energy("store", "vacuum", "--retention-hours", "0", "--allow-short-retention", "--home", str(tmp_path))
    assert dry.returncode == 0, dry.stderr
    assert "eia.region: would delete 1 file(s)" in dry.stdout and "run again with --apply" in dry.stdout
    assert set(table_dir.rglob("*.parquet")) == data_files
    applied = energy("store", "vacuum", "--retention-hours", "0", "--allow-short-retention", "--apply",
                     "--home", str(tmp_path))
    assert applied.returncode == 0, applied.stderr
    assert "eia.region: deleted 1 file(s)" in applied.stdout
    assert len(set(table_dir.rglob("*.parquet"))) == 1

    known_before = first["retrieved_at"].max()
    assert Lake(tmp_path).scan(as_of=known_before).collect().sort(KEY).equals(first.sort(KEY))
    latest = Lake(tmp_path).scan().collect()
    assert latest.join(revision, on=COLUMNS, how="semi").height == 3 and latest.height == first.height
    unknown = energy("store", "vacuum", "--dataset", "eia.fuel", "--home", str(tmp_path))
    assert unknown.returncode == 1 and "has no table 'eia.fuel'; its tables: eia.region" in unknown.stderr
