from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy_core.errors import SchemaError
from energy_core.storage.schema import KEY, POLARS_SCHEMA, repeated_keys, validate_observations


def observations(**overrides) -> pl.DataFrame:
    data = {
        "ts": [datetime(2024, 1, 1, h, tzinfo=UTC) for h in range(3)],
        "source": ["eia"] * 3, "dataset": ["eia.region"] * 3, "region": ["PACW"] * 3,
        "series": ["demand"] * 3, "value": [1.0, None, -3.0], "unit": ["MWh"] * 3,
        "retrieved_at": [datetime(2024, 2, 1, tzinfo=UTC)] * 3,
    }
    data.update(overrides)
    return pl.DataFrame(data, schema_overrides={k: v for k, v in POLARS_SCHEMA.items() if k in data})


def test_valid_observations_pass_in_canonical_order():
    frame = observations().select(list(reversed(POLARS_SCHEMA.names())))
    assert validate_observations(frame).columns == POLARS_SCHEMA.names()


def test_naive_timestamps_are_rejected():
    frame = observations().with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(SchemaError, match="'ts' is Datetime.*timezone-aware UTC"):
        validate_observations(frame)


def test_other_time_zone_is_rejected():
    frame = observations().with_columns(pl.col("ts").dt.convert_time_zone("America/Los_Angeles"))
    with pytest.raises(SchemaError, match="'ts'"):
        validate_observations(frame)


def test_null_key_is_rejected():
    with pytest.raises(SchemaError, match="nulls in non-nullable columns: {'region': 1}"):
        validate_observations(observations(region=["PACW", None, "PACW"]))


def test_duplicate_key_is_rejected():
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(SchemaError, match="2 rows with a duplicated key"):
        validate_observations(observations(ts=[stamp, stamp, datetime(2024, 1, 2, tzinfo=UTC)]))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["eia.region", "eia.fuel"]), st.sampled_from(["PACW", "PAC", "W"]),
                          st.sampled_from(["demand", "d", "emand"]), st.integers(0, 3)), max_size=12))
def test_repeated_keys_are_exactly_the_keys_that_appear_twice(keys):
    """Near-equal names (a region that is a prefix of another) must not hide or invent a repeat."""
    rows = pl.DataFrame(keys, schema=list(KEY), orient="row")
    expected = sorted(key for key in keys if keys.count(key) > 1)
    assert sorted(repeated_keys(rows).iter_rows()) == expected


def test_non_finite_values_are_rejected():
    with pytest.raises(SchemaError, match="1 non-finite"):
        validate_observations(observations(value=[1.0, float("inf"), 2.0]))


def test_missing_and_extra_columns_are_named():
    with pytest.raises(SchemaError, match=r"missing columns \['unit'\] / unexpected columns \['units'\]"):
        validate_observations(observations().rename({"unit": "units"}))


def test_wrong_value_type_is_rejected():
    with pytest.raises(SchemaError, match="'value' is String"):
        validate_observations(observations().with_columns(pl.col("value").cast(pl.String)))
