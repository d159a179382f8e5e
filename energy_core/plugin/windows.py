"""Time helpers shared by sources: UTC parsing and calendar-aligned request windows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime


def parse_utc(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` or an ISO timestamp as UTC (naive input is taken as UTC)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Split ``[start, end)`` at UTC month boundaries, so windows (and cache keys) repeat across runs."""
    cursor = start
    while cursor < end:
        following = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
        yield cursor, min(following, end)
        cursor = min(following, end)
