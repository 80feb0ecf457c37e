"""The one shape every data check reports a failure in, shared by suites and survivorship."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckFailure:
    """A failed check: which symbol (``"*"`` for the whole set), which check, how many rows.

    ``rows`` holds the first offending rows as text (UTC times with row numbers, or column
    names for the schema check) so a person can find them without opening a notebook.
    ``severity`` says what the failure does: ``error`` quarantines rows or blocks training,
    ``warn`` is reported only.
    """

    symbol: str
    check: str
    count: int
    rows: list[str] = field(default_factory=list)
    detail: str = ""
    severity: str = "error"  # "error" or "warn" (data_contracts.config.ContractConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "symbol": self.symbol,
            "check": self.check,
            "count": self.count,
            "rows": list(self.rows),
            "detail": self.detail,
            "severity": self.severity,
        }

    def describe(self) -> str:
        """One line naming symbol, check, count and the first rows."""
        rows = f" first rows: {', '.join(self.rows)}" if self.rows else ""
        detail = f" ({self.detail})" if self.detail else ""
        level = " [warn]" if self.severity == "warn" else ""
        return f"{self.symbol}: {self.check}{level} failed on {self.count}{detail}{rows}"
