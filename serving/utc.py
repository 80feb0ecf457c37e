"""UTC timestamps at the journal's edge: what goes in must say its zone, what comes back does.

The journal stores tz-aware UTC only. A naive datetime on the way in is a bug upstream (whose
clock?), so it is refused; on the way out SQLite hands stored timestamps back naive (they were
stored as UTC) while PostgreSQL hands them back tz-aware, and both must read the same.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC, for storing.

    Raises:
        ValueError: ``value`` is naive.
    """
    zone = value.tzinfo
    if zone is UTC:  # the common case, on every row of the decision path
        return value
    if zone is None:
        raise ValueError(f"naive datetime {value!r}; the journal stores tz-aware UTC only")
    return value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """A timestamp read back from the journal, tz-aware UTC whichever database stored it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
