"""Calendar-aligned request windows, the helper sources split a run's range with."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from energy_core.api import calendar_windows, month_windows


def at(year: int, month: int = 1, day: int = 1, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_month_windows_cut_at_month_boundaries_keeping_the_ranges_own_ends():
    assert list(month_windows(at(2023, 11, 15, 6), at(2024, 2, 3))) == [
        (at(2023, 11, 15, 6), at(2023, 12)), (at(2023, 12), at(2024)), (at(2024), at(2024, 2)),
        (at(2024, 2), at(2024, 2, 3))]


def test_calendar_windows_take_whole_years_then_whole_quarters_and_months_for_the_rest():
    windows = list(calendar_windows(at(2022, 11, 15), at(2024, 9, 10), settled_before=at(2030),
                                    fits=lambda start, end: True))
    assert windows == [(at(2022, 11, 15), at(2022, 12)), (at(2022, 12), at(2023)), (at(2023), at(2024)),
                       (at(2024), at(2024, 4)), (at(2024, 4), at(2024, 7)), (at(2024, 7), at(2024, 8)),
                       (at(2024, 8), at(2024, 9)), (at(2024, 9), at(2024, 9, 10))]


def test_calendar_windows_fall_back_to_months_where_a_span_does_not_fit_or_is_not_yet_settled():
    fits_a_quarter = list(calendar_windows(at(2023), at(2025), settled_before=at(2030),
                                           fits=lambda start, end: (end - start).days < 100))
    quarters = [at(2023), at(2023, 4), at(2023, 7), at(2023, 10), at(2024), at(2024, 4), at(2024, 7), at(2024, 10),
                at(2025)]
    assert fits_a_quarter == list(itertools.pairwise(quarters))
    assert list(calendar_windows(at(2023), at(2024), settled_before=at(2023), fits=lambda start, end: True)) == list(
        month_windows(at(2023), at(2024)))
    settling = list(calendar_windows(at(2023), at(2024), settled_before=at(2023, 8, 20), fits=lambda start, end: True))
    assert settling[:2] == [(at(2023), at(2023, 4)), (at(2023, 4), at(2023, 7))]
    assert settling[2:] == list(month_windows(at(2023, 7), at(2024))), "the quarter ending after the date: months"


def test_a_window_never_straddles_the_ranges_end_or_repeats_an_hour():
    ranges = ((at(2021, 3, 5), at(2024, 1, 1, 5)), (at(2020), at(2020, 1, 1, 3)), (at(2019, 12, 31), at(2020)))
    for start, end in ranges:
        windows = list(calendar_windows(start, end, settled_before=at(2030), fits=lambda a, b: True))
        assert windows[0][0] == start and windows[-1][1] == end
        assert all(earlier[1] == later[0] for earlier, later in itertools.pairwise(windows))
