"""Time helpers shared by sources: UTC parsing and calendar-aligned request windows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

SPAN_MONTHS = (12, 3)
"""The spans :func:`calendar_windows` tries before a month, longest first: a year, then a quarter."""


def parse_utc(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` or an ISO timestamp as UTC (naive input is taken as UTC)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` at UTC month boundaries, so windows (and cache keys) repeat across runs."""
    return calendar_windows(start, end, settled_before=start, fits=lambda first, last: False)


def calendar_windows(start: datetime, end: datetime, *, settled_before: datetime,
                     fits: Callable[[datetime, datetime], bool]) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into whole calendar years or quarters where ``fits`` accepts them, months
    elsewhere: fewer, fuller requests for small answers, and windows (and cache keys) that still repeat
    across runs. A span ending after ``settled_before`` is split into months, so that refetching the
    hours a service still revises does not refetch a year with them."""
    cursor = start
    while cursor < end:
        following = next((span_end for months in SPAN_MONTHS
                          if (span_end := _span_end(cursor, months)) is not None
                          and span_end <= min(end, settled_before) and fits(cursor, span_end)),
                         add_months(_month_start(cursor), 1))
        yield cursor, min(following, end)
        cursor = min(following, end)


def _span_end(cursor: datetime, months: int) -> datetime | None:
    """The end of the calendar span of ``months`` months that starts at ``cursor``; None when none does."""
    starts_span = cursor == _month_start(cursor) and (cursor.month - 1) % months == 0
    return add_months(cursor, months) if starts_span else None


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month_start: datetime, months: int) -> datetime:
    """The first hour of the month ``months`` after the one ``month_start`` begins (UTC)."""
    index = month_start.year * 12 + month_start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
