"""The broker's server time: what MT5 exports and `copy_rates_*` stamp bars with.

Most FX brokers run "New York close" time — UTC+2 in winter, UTC+3 in summer, switching on the
*US* DST dates — which no IANA zone name describes, so the setting is explicit and never
guessed: ``"UTC"``; ``"UTC+3"``, ``"UTC-5"``, ``"UTC+5:30"`` (fixed offsets); ``"NY+7"`` (any
``NY±N``: ``America/New_York`` wall time shifted by N hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

NEW_YORK = "America/New_York"
_SERVER_TIME = re.compile(r"^(UTC|NY)(?:([+-])(\d{1,2})(?::(\d{2}))?)?$")


@dataclass(frozen=True)
class ServerTime:
    """A parsed ``server_time`` setting: a base zone (UTC or New York) plus a fixed shift."""

    base: str  # "UTC" or NEW_YORK
    shift: pd.Timedelta

    @classmethod
    def parse(cls, setting: str) -> ServerTime:
        """Parse ``"UTC"``, ``"UTC±H[:MM]"`` or ``"NY±H[:MM]"``; raise ValueError otherwise."""
        match = _SERVER_TIME.match(setting.strip().upper())
        if not match or (match.group(1) == "NY" and not match.group(2)):
            raise ValueError(
                f"server_time {setting!r} not understood; use 'UTC', 'UTC+3', 'UTC-5' or 'NY+7'"
            )
        zone, sign, hours, minutes = match.groups()
        shift = pd.Timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if shift > pd.Timedelta(hours=14):
            raise ValueError(f"server_time {setting!r}: offset beyond 14 hours")
        return cls(NEW_YORK if zone == "NY" else "UTC", -shift if sign == "-" else shift)

    def to_utc(self, wall: pd.Series) -> pd.Series:
        """Naive server wall times → UTC. Raises ValueError for times the zone never shows."""
        local = wall - self.shift
        if self.base == "UTC":
            return local.dt.tz_localize("UTC")
        try:
            aware = local.dt.tz_localize(self.base, ambiguous="infer", nonexistent="raise")
        except Exception:  # pytz/zoneinfo raise several types; fall back to NaT per row
            aware = local.dt.tz_localize(self.base, ambiguous="NaT", nonexistent="NaT")
        return aware.dt.tz_convert("UTC")

    def from_utc(self, utc: pd.Series) -> pd.Series:
        """UTC times → naive server wall times (the inverse of ``to_utc``)."""
        wall: pd.Series = utc.dt.tz_convert(self.base).dt.tz_localize(None) + self.shift
        return wall


def server_to_utc(wall: pd.Series, server_time: str) -> pd.Series:
    """Convert naive server wall times to UTC (e.g. ``copy_rates_*`` times seen as naive)."""
    return ServerTime.parse(server_time).to_utc(wall).astype("datetime64[ns, UTC]")


def utc_to_server(utc: pd.Series, server_time: str) -> pd.Series:
    """Convert UTC times to naive server wall times."""
    return ServerTime.parse(server_time).from_utc(utc)
