"""great-expectations 1.x suites for bars: one suite and checkpoint per symbol, Data Docs on disk.

Why GX: the checks land in Data Docs, a browsable record of what each training set looked
like. Why flag columns: GX's row-wise multi-column expectations are slow on pandas; the OHLC
and ordering rules are computed here as vectorized boolean columns (True = violation) and a
plain ``ExpectColumnValuesToBeInSet([False])`` asserts them, so GX still reports counts and
offending rows while pandas does the arithmetic.

The context is ephemeral (stores in memory) with one filesystem Data Docs site whose
``base_directory`` is the caller's ``site_dir``: nothing lands in a temp dir and nothing
accumulates between runs except the HTML the caller asked for.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import EphemeralDataContext
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS, RATE_COLUMNS

logger = logging.getLogger(__name__)

SITE_NAME = "tate"
FLAG_HIGH = "flag_high_below_open_close"
FLAG_LOW = "flag_low_above_open_close"
FLAG_ORDER = "flag_time_before_previous"
FLAG_COLUMNS: tuple[str, ...] = (FLAG_HIGH, FLAG_LOW, FLAG_ORDER)
# Which input columns a flag needs: a missing input is the schema check's finding, not this one's.
FLAG_INPUTS: dict[str, tuple[str, ...]] = {
    FLAG_HIGH: ("open", "high", "close"),
    FLAG_LOW: ("open", "low", "close"),
    FLAG_ORDER: ("time",),
}

# GX names a tz-aware pandas datetime column "Timestamp" and a naive one "datetime64", so
# "Timestamp" is how a suite says "time must be tz-aware" (coerce_bars makes it UTC).
COLUMN_TYPES: dict[str, str] = {
    "time": "Timestamp",
    **{column: "float64" for column in PRICE_COLUMNS},
    **{column: "int64" for column in INT_COLUMNS},
}


@dataclass(frozen=True)
class CheckOutcome:
    """One expectation's verdict for one symbol, in tate's vocabulary.

    ``rows`` are positional row numbers (first few only); ``columns`` are the bar columns the
    check reads, so a check on a column the schema check found missing can be set aside.
    """

    symbol: str
    check: str
    success: bool
    count: int
    rows: tuple[int, ...]
    columns: tuple[str, ...]
    detail: str = ""


@dataclass(frozen=True)
class SuiteRun:
    """All outcomes of one validation run plus where its Data Docs index landed."""

    outcomes: tuple[CheckOutcome, ...]
    data_docs_index: Path


def add_check_flags(bars: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``bars`` (positional index) plus the vectorized violation flags.

    NaN compares False, so a missing price is left to the not-null check instead of also
    tripping the OHLC checks; flags whose inputs are missing are all False for the same reason.
    """
    frame = bars.reset_index(drop=True).copy()
    present = set(frame.columns)
    if set(FLAG_INPUTS[FLAG_HIGH]) <= present:
        frame[FLAG_HIGH] = frame["high"] < frame[["open", "close"]].max(axis=1)
    if set(FLAG_INPUTS[FLAG_LOW]) <= present:
        frame[FLAG_LOW] = frame["low"] > frame[["open", "close"]].min(axis=1)
    if "time" in present:
        # Strictly earlier than the bar before: duplicates are the uniqueness check's finding.
        frame[FLAG_ORDER] = frame["time"].diff() < pd.Timedelta(0)
    for flag in FLAG_COLUMNS:
        if flag not in frame.columns:
            frame[flag] = False
    return frame


def build_bar_suite(symbol: str) -> gx.ExpectationSuite:
    """The bar suite for one symbol; each expectation's ``meta`` names tate's check."""
    expectations: list[gxe.Expectation] = []

    def add(expectation: gxe.Expectation, check: str, columns: tuple[str, ...]) -> None:
        expectation.meta = {"check": check, "columns": list(columns)}
        expectations.append(expectation)

    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*RATE_COLUMNS, *FLAG_COLUMNS], exact_match=True
        ),
        "schema",
        (),
    )
    for column, type_ in COLUMN_TYPES.items():
        add(
            gxe.ExpectColumnValuesToBeOfType(column=column, type_=type_),
            f"dtype:{column}",
            (column,),
        )
    for column in RATE_COLUMNS:
        add(gxe.ExpectColumnValuesToNotBeNull(column=column), f"not_null:{column}", (column,))
    for column in PRICE_COLUMNS:
        add(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, strict_min=True),
            f"positive:{column}",
            (column,),
        )
    for column in INT_COLUMNS:
        add(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0),
            f"non_negative:{column}",
            (column,),
        )
    add(in_set_false(FLAG_HIGH), "high_ge_open_close", FLAG_INPUTS[FLAG_HIGH])
    add(in_set_false(FLAG_LOW), "low_le_open_close", FLAG_INPUTS[FLAG_LOW])
    add(gxe.ExpectColumnValuesToBeUnique(column="time"), "unique_time", ("time",))
    add(in_set_false(FLAG_ORDER), "increasing_time", FLAG_INPUTS[FLAG_ORDER])
    return gx.ExpectationSuite(name=f"bars.{symbol}", expectations=expectations)


def in_set_false(flag: str) -> gxe.Expectation:
    """A flag column holds only False (no violation)."""
    return gxe.ExpectColumnValuesToBeInSet(column=flag, value_set=[False])


def make_context(site_dir: Path) -> EphemeralDataContext:
    """An in-memory GX context whose only Data Docs site is the local folder ``site_dir``."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # belt and braces; config says so too
    site_dir.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site_dir.resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    # get_context (not the class) registers the context as GX's current project, which
    # suites and validation definitions resolve their stores through.
    return cast(EphemeralDataContext, gx.get_context(project_config=config, mode="ephemeral"))


def run_bar_suites(
    bars: dict[str, pd.DataFrame],
    *,
    site_dir: Path,
    run_name: str,
    max_rows: int = 5,
) -> SuiteRun:
    """Validate every symbol's bars with its suite and write Data Docs under ``site_dir``.

    One checkpoint per symbol because a dataframe asset receives its frame through the
    checkpoint's batch parameters, which are shared by all validations of one checkpoint.
    """
    context = make_context(site_dir)
    source = context.data_sources.add_pandas(name="bars")
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    outcomes: list[CheckOutcome] = []
    for symbol in sorted(bars):
        batch = source.add_dataframe_asset(name=symbol).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(build_bar_suite(symbol))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"bars.{symbol}", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"bars.{symbol}",
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_rows},
            )
        )
        frame = add_check_flags(bars[symbol])
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        for suite_result in result.run_results.values():
            outcomes.extend(_to_outcome(symbol, r) for r in suite_result.results)
    index = site_dir.resolve() / "index.html"
    logger.info("validated %d symbols; Data Docs at %s", len(bars), index)
    return SuiteRun(outcomes=tuple(outcomes), data_docs_index=index)


def _to_outcome(symbol: str, result: Any) -> CheckOutcome:
    meta = result.expectation_config.meta or {}
    body: dict[str, Any] = dict(result.result or {})
    detail = ""
    if meta.get("check") == "schema" and not result.success:
        mismatched = body.get("details", {}).get("mismatched", {})
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(mismatched.items()))
        count = sum(len(v) for v in mismatched.values())
    elif str(meta.get("check", "")).startswith("dtype:") and not result.success:
        expected = result.expectation_config.kwargs.get("type_")
        detail = f"dtype {body.get('observed_value')}, expected {expected}"
        count = 1
    else:
        count = int(body.get("unexpected_count") or 0)
    info = result.exception_info or {}
    if info.get("raised_exception"):
        detail = str(info.get("exception_message", "expectation raised"))
    elif not body and not result.success:  # exceptions are keyed per metric in GX 1.x
        messages = [v.get("exception_message", "") for v in info.values() if isinstance(v, dict)]
        detail = "; ".join(dict.fromkeys(m for m in messages if m)) or "could not be evaluated"
    return CheckOutcome(
        symbol=symbol,
        check=str(meta.get("check", result.expectation_config.type)),
        success=bool(result.success),
        count=count,
        rows=tuple(int(i) for i in body.get("partial_unexpected_index_list") or ()),
        columns=tuple(meta.get("columns", ())),
        detail=detail,
    )
