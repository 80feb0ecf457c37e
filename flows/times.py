"""Times given on the command line or in the Prefect UI: ISO text, read as UTC."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from flows.errors import BadOptionError


def utc_time(text: str, what: str) -> datetime:
    """Parse an ISO time given on the command line as UTC; naive input is read as UTC.

    Raises:
        BadOptionError: the text is no date or time; the message names ``what`` (the option).
    """
    try:
        stamp = pd.Timestamp(text)
    except ValueError as error:
        raise BadOptionError(f"{what} {text!r} is not an ISO date or time") from error
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).to_pydatetime()
