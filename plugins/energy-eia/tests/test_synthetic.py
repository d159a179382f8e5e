from __future__ import annotations

import numpy as np

from energy_eia import synthetic

YEAR = np.arange(0, 24 * 365, dtype=np.float64) + 464_280  # hour-ending stamps through 2023 (hours since 1970)


def test_solar_is_zero_at_night_and_positive_at_noon():
    solar = synthetic.fuel("CISO", "SUN", YEAR)
    local_hour, _ = synthetic._calendar("CISO", YEAR)
    assert (solar[(local_hour < 5) | (local_hour > 20)] == 0).all()
    assert (solar[local_hour == 12] > 0).all()


def test_wind_has_the_small_negative_values_real_bas_report():
    wind = np.concatenate([synthetic.fuel(ba, "WND", YEAR) for ba in ("PACW", "ERCO", "MISO")])
    negative = wind[wind < 0]
    assert negative.size > 0 and negative.min() >= -3


def test_values_depend_only_on_the_hour_not_on_the_requested_range():
    whole = synthetic.region("PACW", "D", YEAR)
    part = synthetic.region("PACW", "D", YEAR[1000:1100])
    assert np.array_equal(whole[1000:1100], part)


def test_demand_has_a_daily_shape_and_interchange_balances():
    demand = synthetic.region("ERCO", "D", YEAR)
    local_hour, _ = synthetic._calendar("ERCO", YEAR)
    assert demand[local_hour == 16].mean() > 1.15 * demand[local_hour == 4].mean()
    interchange = synthetic.region("ERCO", "TI", YEAR)
    assert np.array_equal(interchange, synthetic.region("ERCO", "NG", YEAR) - demand)
