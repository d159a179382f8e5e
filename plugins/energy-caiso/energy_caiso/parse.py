"""CSV members of OASIS reports and Today's Outlook files -> interval frames.

Every parser returns the same columns: ``start`` and ``end`` (UTC instants of the interval),
``area``, ``item`` (the report's own names) and ``value``.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import polars as pl

from energy_caiso.api import INTERVAL_END, INTERVAL_START, PACIFIC
from energy_caiso.reports import Report
from energy_core.api import PayloadValidationError

_UTC = pl.Datetime("us", "UTC")
_GMT_FORMAT = "%Y-%m-%dT%H:%M:%S%:z"


def _read_csv(data: bytes, what: str) -> pl.DataFrame:
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as exc:
        raise PayloadValidationError(f"caiso: {what} is not readable CSV: {exc}", source="caiso") from None
    return frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})


def _require(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = [c[:40] for c in frame.columns[:12]] + (["..."] if frame.width > 12 else [])
        raise PayloadValidationError(f"caiso: {what} lacks column(s) {missing}; it has {shown}", source="caiso")
    twice = [c for c in columns if f"{c}_duplicated_0" in frame.columns]  # polars' name for a repeated header
    if twice:
        raise PayloadValidationError(f"caiso: {what} has the column(s) {twice} more than once; which one holds "
                                     "the data is unclear, so nothing is read", source="caiso")


def _numbers(raw: pl.Series, what: str) -> pl.Series:
    text = raw.str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    bad = number.is_null() & text.is_not_null() & (text != "") | number.is_infinite() | number.is_nan()
    if bad.any():
        raise PayloadValidationError(f"caiso: {what} has {bad.sum()} value(s) that are not numbers, "
                                     f"e.g. {raw[bad.arg_true()[0]]!r}", source="caiso")
    return number


def read_report(data: bytes, report: Report) -> pl.DataFrame:
    """An OASIS CSV member, selected by column name (order and extra columns do not matter)."""
    what = f"{report.queryname} {report.market} CSV"
    frame = _read_csv(data, what)
    needed = [INTERVAL_START, INTERVAL_END, report.area_column, report.item_column, report.value_column]
    _require(frame, needed, what)
    parsed = frame.select(
        start=pl.col(INTERVAL_START).str.strip_chars().str.to_datetime(_GMT_FORMAT, time_zone="UTC", strict=False),
        end=pl.col(INTERVAL_END).str.strip_chars().str.to_datetime(_GMT_FORMAT, time_zone="UTC", strict=False),
        area=pl.col(report.area_column).str.strip_chars(),
        item=pl.col(report.item_column).str.strip_chars(),
        value=pl.col(report.value_column),
    )
    footer = parsed["start"].is_null() & parsed["area"].is_null()
    parsed = parsed.filter(~footer)
    bad_time = parsed["start"].is_null() | parsed["end"].is_null()
    if bad_time.any():
        raise PayloadValidationError(f"caiso: {what} has {bad_time.sum()} interval time(s) not in the form "
                                     "2023-01-01T00:15:00-00:00", source="caiso")
    return parsed.with_columns(value=_numbers(parsed["value"], what)).with_columns(pl.col("start", "end").cast(_UTC))


def read_fuelsource(data: bytes, day: date) -> pl.DataFrame:
    """A Today's Outlook ``fuelsource.csv`` for Pacific ``day``: 5-minute MW in Pacific wall time.

    Times that do not exist (the spring-forward hour) are dropped when blank and refused when they
    carry values; on the fall-back day the file has the repeated hour once, taken as its first
    (daylight) occurrence, so the second is missing, not invented. A trailing row for the next
    day's 00:00 is dropped.
    """
    what = f"Today's Outlook fuelsource for {day:%Y-%m-%d}"
    frame = _read_csv(data, what)
    _require(frame, ["Time"], what)
    minutes = frame["Time"].str.strip_chars().str.split(":").list.eval(pl.element().cast(pl.Int32, strict=False))
    hour, minute = minutes.list.get(0, null_on_oob=True), minutes.list.get(1, null_on_oob=True)
    frame = frame.with_columns(_minute=hour * 60 + minute)
    if frame["_minute"].null_count():
        raise PayloadValidationError(f"caiso: {what} has times not in the form HH:MM", source="caiso")
    rollover = frame["_minute"].diff().fill_null(1) <= 0
    frame = frame.filter(~rollover.cum_max())  # everything from the first step back in time is the next day
    midnight = datetime(day.year, day.month, day.day)
    fuels = [c for c in frame.columns if c not in ("Time", "_minute")]
    local = (pl.lit(midnight) + pl.duration(minutes=pl.col("_minute"))).dt.replace_time_zone(
        PACIFIC, ambiguous="earliest", non_existent="null")
    values = frame.select(local.alias("start"), *[_numbers(frame[c], what).alias(c) for c in fuels])
    nonexistent = values["start"].is_null()
    if nonexistent.any():
        if values.filter(nonexistent).select(pl.any_horizontal(pl.col(fuels).is_not_null())).to_series().any():
            raise PayloadValidationError(f"caiso: {what} has values at wall-clock times that do not exist "
                                         "(the spring-forward hour)", source="caiso")
        values = values.filter(~nonexistent)
    long = values.unpivot(index="start", on=fuels, variable_name="item", value_name="value")
    return long.select(
        start=pl.col("start").dt.convert_time_zone("UTC"),
        end=pl.col("start").dt.convert_time_zone("UTC") + timedelta(minutes=5),
        area=pl.lit("CISO"),
        item=pl.col("item").str.strip_chars(),
        value=pl.col("value"),
    )
