"""Calendar features in an entity's local time, and US federal holidays (as observed)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import cast

import numpy as np
import polars as pl

CALENDAR_FEATURES = ("calendar.hour_sin", "calendar.hour_cos", "calendar.dow_sin", "calendar.dow_cos",
                     "calendar.doy_sin", "calendar.doy_cos", "calendar.holiday")


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """A holiday on Saturday is observed on Friday, on Sunday on Monday."""
    return day - timedelta(days=1) if day.weekday() == 5 else day + timedelta(days=1) if day.weekday() == 6 else day


def us_federal_holidays(year: int) -> set[date]:
    """The days federal holidays are observed in ``year`` (5 U.S.C. 6103)."""
    mon, thu = 0, 3
    days = {
        _observed(date(year, 1, 1)), _nth_weekday(year, 1, mon, 3), _nth_weekday(year, 2, mon, 3),
        _last_weekday(year, 5, mon), _observed(date(year, 7, 4)), _nth_weekday(year, 9, mon, 1),
        _nth_weekday(year, 10, mon, 2), _observed(date(year, 11, 11)), _nth_weekday(year, 11, thu, 4),
        _observed(date(year, 12, 25)),
    }
    if year >= 2021:
        days.add(_observed(date(year, 6, 19)))
    if date(year + 1, 1, 1).weekday() == 5:  # next New Year's Day falls on Saturday: observed on Dec 31
        days.add(date(year, 12, 31))
    return days


def calendar_features(ts: pl.Series, timezone: str) -> np.ndarray:
    """(n, 7) float32: hour of day, day of week and day of year as sine and cosine, in local time,
    and 1.0 on US federal holidays (observed)."""
    local = ts.dt.convert_time_zone(timezone)
    hour = (local.dt.hour().to_numpy() + local.dt.minute().to_numpy() / 60) / 24
    dow = local.dt.weekday().to_numpy() - 1  # Monday = 0
    doy = (local.dt.ordinal_day().to_numpy() - 1) / 365.25
    days = local.dt.date()
    first, last = cast("date | None", days.min()), cast("date | None", days.max())
    years = range(first.year, last.year + 1) if first and last else range(0)
    holidays = np.array(sorted({d for y in years for d in us_federal_holidays(y)}), dtype="datetime64[D]")
    columns = [np.sin(2 * np.pi * hour), np.cos(2 * np.pi * hour), np.sin(2 * np.pi * dow / 7),
               np.cos(2 * np.pi * dow / 7), np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy),
               np.isin(days.to_numpy().astype("datetime64[D]"), holidays).astype(np.float64)]
    return np.column_stack(columns).astype(np.float32)
