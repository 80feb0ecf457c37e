"""The great-expectations suite for the point-in-time universe (``universe.csv``).

Survivorship checks are only as good as the universe they compare against: a symbol listed
twice, a listing without a start, or a delisting before the listing makes every verdict
downstream a guess. So the universe is validated first, with its own Data Docs page, and a
failure here blocks (survivorship is then not evaluated at all).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import EphemeralDataContext

from data_contracts.findings import CheckFailure
from data_contracts.gx_context import run_suite

FLAG_DELISTED_FIRST = "flag_delisted_not_after_listed"


def universe_frame(universe: pd.DataFrame) -> pd.DataFrame:
    """The universe as GX sees it: times parsed leniently (unparseable → NaT) plus a flag.

    Lenient on purpose: coercion would raise at the first problem, the suite lists them all.
    """
    frame = pd.DataFrame(index=pd.RangeIndex(len(universe)))
    symbols = (
        universe["symbol"] if "symbol" in universe.columns else pd.Series(None, index=frame.index)
    )
    frame["symbol"] = symbols.reset_index(drop=True).astype("object")
    frame.loc[frame["symbol"].astype(str).str.strip().isin(["", "nan", "None"]), "symbol"] = None
    for column in ("listed_from", "delisted_at"):
        values = (
            universe[column] if column in universe.columns else pd.Series(None, index=frame.index)
        )
        values = values.reset_index(drop=True)
        values = values.where(values.notna() & (values.astype(str) != ""), None)
        frame[column] = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    frame[FLAG_DELISTED_FIRST] = (frame["delisted_at"] <= frame["listed_from"]).to_numpy()
    return frame


def build_universe_suite() -> gx.ExpectationSuite:
    """Symbol present and unique, listing start present, delisting after listing."""
    checks = [
        (gxe.ExpectColumnValuesToNotBeNull(column="symbol"), "universe:symbol_not_null"),
        (gxe.ExpectColumnValuesToBeUnique(column="symbol"), "universe:unique_symbol"),
        (gxe.ExpectColumnValuesToNotBeNull(column="listed_from"), "universe:listed_from_not_null"),
        (
            gxe.ExpectColumnValuesToBeInSet(column=FLAG_DELISTED_FIRST, value_set=[False]),
            "universe:delisted_after_listed",
        ),
    ]
    for expectation, check in checks:
        expectation.meta = {"check": check, "columns": []}
    return gx.ExpectationSuite(name="universe", expectations=[e for e, _ in checks])


def validate_universe(
    context: EphemeralDataContext,
    universe: pd.DataFrame,
    *,
    run_id: RunIdentifier,
    max_rows: int,
    data_docs: bool = True,
) -> list[CheckFailure]:
    """Run the universe suite; failures name the offending symbols and universe rows."""
    frame = universe_frame(universe)
    verdicts = run_suite(
        context,
        build_universe_suite(),
        frame,
        run_id=run_id,
        result_format="SUMMARY",
        max_rows=max_rows,
        data_docs=data_docs,
    )
    masks = {
        "universe:symbol_not_null": frame["symbol"].isna().to_numpy(),
        "universe:unique_symbol": (
            frame["symbol"].duplicated(keep=False) & frame["symbol"].notna()
        ).to_numpy(),
        "universe:listed_from_not_null": frame["listed_from"].isna().to_numpy(),
        "universe:delisted_after_listed": frame[FLAG_DELISTED_FIRST].to_numpy(),
    }
    failures = []
    for verdict in verdicts:
        if verdict.success:
            continue
        hits = np.flatnonzero(masks[verdict.check])
        rows = [f"{frame['symbol'].iloc[i]} (row {i})" for i in hits[:max_rows]]
        failures.append(CheckFailure("*", verdict.check, len(hits), rows, verdict.detail))
    return failures
