"""Calendar features in an entity's local time, and the holidays of its states (``holidays`` library).

An entity spanning several states (a balancing authority such as MISO) gets, for its holiday feature,
the share of its states that observe a holiday that day: 1.0 on a federal holiday, 1/6 on a day one
of ISO New England's six states keeps (Patriots' Day in Massachusetts and Maine: 2/6). Demand falls
roughly in proportion to the load that stays home, and counting states is the rule that needs no
load shares nobody publishes per state and BA. An entity with no states gets the federal holidays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import cast

import numpy as np
import polars as pl

from energy_core.errors import ConfigError

HOLIDAY = "calendar.holiday"
CALENDAR_FEATURES = ("calendar.hour_sin", "calendar.hour_cos", "calendar.dow_sin", "calendar.dow_cos",
                     "calendar.doy_sin", "calendar.doy_cos", HOLIDAY)
COUNTRY = "US"


@lru_cache(maxsize=256)
def holidays_of(region: str | None, first_year: int, last_year: int) -> frozenset[date]:
    """The days a holiday is observed in US state ``region`` (a postal code, e.g. ``"TX"``), or the
    federal ones when ``None``, from ``first_year`` to ``last_year`` (observed on a weekday when it
    falls on a weekend, as the law of the state says)."""
    import holidays

    try:
        days = holidays.country_holidays(COUNTRY, subdiv=region, years=range(first_year - 1, last_year + 2))
    except NotImplementedError:
        known = ", ".join(holidays.country_holidays(COUNTRY).subdivisions)
        raise ConfigError(f"no US state or territory {region!r} for the holiday calendar; use a postal code "
                          f"({known})") from None
    return frozenset(day for day in days if first_year <= day.year <= last_year)


def holiday_share(days: np.ndarray, states: Sequence[str]) -> np.ndarray:
    """(n,) float64: for each local date in ``days`` (datetime64[D]), the share of ``states`` observing
    a holiday, or 1.0 on a federal holiday when there are no states."""
    if days.size == 0:
        return np.zeros(0)
    first, last = cast(date, days.min().item()).year, cast(date, days.max().item()).year
    regions: Sequence[str | None] = states or (None,)
    share = np.zeros(days.size)
    for region in regions:
        observed = np.array(sorted(holidays_of(region, first, last)), dtype="datetime64[D]")
        share += np.isin(days, observed)
    return share / len(regions)


def calendar_features(ts: pl.Series, timezone: str, states: Sequence[str] = ()) -> np.ndarray:
    """(n, 7) float32: hour of day, day of week and day of year as sine and cosine, in local time,
    and the holiday share of :func:`holiday_share` (US federal holidays when ``states`` is empty)."""
    local = ts.dt.convert_time_zone(timezone)
    hour = (local.dt.hour().to_numpy() + local.dt.minute().to_numpy() / 60) / 24
    dow = local.dt.weekday().to_numpy() - 1  # Monday = 0
    doy = (local.dt.ordinal_day().to_numpy() - 1) / 365.25
    days = local.dt.date().to_numpy().astype("datetime64[D]")
    columns = [np.sin(2 * np.pi * hour), np.cos(2 * np.pi * hour), np.sin(2 * np.pi * dow / 7),
               np.cos(2 * np.pi * dow / 7), np.sin(2 * np.pi * doy), np.cos(2 * np.pi * doy),
               holiday_share(days, tuple(states))]
    return np.column_stack(columns).astype(np.float32)
