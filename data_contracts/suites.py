"""great-expectations 1.x suites for bars: one suite per batch of symbols, Data Docs on disk.

Why GX: the checks land in Data Docs, a browsable record of what each training set looked
like. Why flag columns: GX's row-wise logic is slow on pandas and some checks (spikes,
stale runs, session gaps) are not one expectation at all; they are computed as vectorized
boolean columns (``data_contracts.flags``, True = violation) that a plain
``ExpectColumnValuesToBeInSet([False])`` asserts.

Why batches: GX's cost is mostly per expectation, not per row, so symbols that share a
schema are validated as one frame with a ``symbol`` column (every per-symbol rule is
already folded into the flags). A symbol whose columns or dtypes differ gets a batch of its
own, so the schema and dtype checks still name it alone. GX gives the verdict of each
expectation over a batch; the per-symbol counts and first rows of a failed one are read
from the same masks (``check_masks``), which is exact and needs no COMPLETE result format.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import EphemeralDataContext

from data_contracts.config import ContractConfig
from data_contracts.flags import (
    CHECK_INPUTS,
    FLAG_COLUMNS,
    FLAG_OF,
    add_check_flags,
    check_masks,
    compute_flags,
)
from data_contracts.gx_context import SITE_NAME, Verdict, make_context, run_suite
from data_contracts.schema import INT_COLUMNS, PRICE_COLUMNS, RATE_COLUMNS

logger = logging.getLogger(__name__)

__all__ = [
    "SITE_NAME",
    "BatchVerdicts",
    "CheckOutcome",
    "SuiteRun",
    "add_check_flags",
    "build_bar_suite",
    "make_context",
    "run_bar_suites",
]

SYMBOL_COLUMN = "symbol"
FLAG_HIGH = FLAG_OF["high_ge_open_close"]
FLAG_LOW = FLAG_OF["low_le_open_close"]
FLAG_ORDER = FLAG_OF["increasing_time"]
FLAG_INPUTS: dict[str, tuple[str, ...]] = {FLAG_OF[c]: CHECK_INPUTS[c] for c in FLAG_OF}
TABLE_CHECK_PREFIXES = ("schema", "dtype:")

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

    ``rows`` are positional row numbers of the symbol's bars (first few only); ``columns``
    are the bar columns the check reads, so a check on a column the schema check found
    missing can be set aside.
    """

    symbol: str
    check: str
    success: bool
    count: int
    rows: tuple[int, ...]
    columns: tuple[str, ...]
    detail: str = ""


@dataclass(frozen=True)
class BatchVerdicts:
    """GX's own results over one batch: which symbols it held (in order) and each verdict."""

    name: str
    symbols: tuple[str, ...]
    lengths: tuple[int, ...]
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True)
class SuiteRun:
    """All outcomes of one validation run plus where its Data Docs index landed."""

    outcomes: tuple[CheckOutcome, ...]
    data_docs_index: Path
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)  # bars + flag columns
    batches: tuple[BatchVerdicts, ...] = ()


def build_bar_suite(name: str) -> gx.ExpectationSuite:
    """The bar suite (named ``bars.<name>``); each expectation's ``meta`` names tate's check."""
    expectations: list[gxe.Expectation] = []

    def add(expectation: gxe.Expectation, check: str, columns: tuple[str, ...]) -> None:
        expectation.meta = {"check": check, "columns": list(columns)}
        expectations.append(expectation)

    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*RATE_COLUMNS, *FLAG_COLUMNS, SYMBOL_COLUMN], exact_match=True
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
    for check, flag in FLAG_OF.items():
        add(in_set_false(flag), check, CHECK_INPUTS[check])
    return gx.ExpectationSuite(name=f"bars.{name}", expectations=expectations)


def in_set_false(flag: str) -> gxe.Expectation:
    """A flag column holds only False (no violation)."""
    return gxe.ExpectColumnValuesToBeInSet(column=flag, value_set=[False])


def flag_batch(
    bars: Mapping[str, pd.DataFrame],
    symbols: list[str],
    *,
    config: ContractConfig,
    timeframe: str | None,
) -> pd.DataFrame:
    """The bars of ``symbols`` stacked in that order, with flag columns and a ``symbol`` column.

    Flags are computed per symbol (each has its own returns, session and runs) and only then
    stacked, so no rule ever looks across two symbols.
    """
    parts = [bars[s] for s in symbols]
    frame = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    flags = [compute_flags(bars[s], symbol=s, timeframe=timeframe, config=config) for s in symbols]
    columns = {flag: np.concatenate([f[flag] for f in flags]) for flag in FLAG_COLUMNS}
    codes = np.repeat(np.arange(len(symbols), dtype=np.int32), [len(p) for p in parts])
    columns[SYMBOL_COLUMN] = pd.Categorical.from_codes(codes, categories=symbols)
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def run_bar_suites(
    bars: Mapping[str, pd.DataFrame],
    *,
    site_dir: Path,
    run_name: str,
    max_rows: int = 5,
    config: ContractConfig | None = None,
    timeframe: str | None = None,
    result_format: str = "SUMMARY",
    data_docs: bool = True,
    context: EphemeralDataContext | None = None,
    run_id: RunIdentifier | None = None,
) -> SuiteRun:
    """Validate every symbol's bars and write Data Docs under ``site_dir``.

    Args:
        config: thresholds, sessions, holidays for the flag columns (defaults when None).
        timeframe: bar length for gaps and alignment (inferred per symbol when None).
        result_format: ``SUMMARY`` (GX also counts, shown in Data Docs) or ``BOOLEAN_ONLY``
            (verdicts only, fastest); per-symbol counts and rows come from the masks either way.
        data_docs: False skips rendering Data Docs (the benchmark compares checking alone).
        context, run_id: share a GX context and run with other suites (one Data Docs index).
    """
    config = config or ContractConfig()
    context = context or make_context(site_dir)
    run_id = run_id or RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    outcomes: list[CheckOutcome] = []
    frames: dict[str, pd.DataFrame] = {}
    batches: list[BatchVerdicts] = []
    for name, symbols in batch_symbols(bars).items():
        frame = flag_batch(bars, symbols, config=config, timeframe=timeframe)
        verdicts = run_suite(
            context,
            build_bar_suite(name),
            frame,
            run_id=run_id,
            result_format=result_format,
            max_rows=max_rows,
            data_docs=data_docs,
        )
        lengths = [len(bars[s]) for s in symbols]
        batches.append(BatchVerdicts(name, tuple(symbols), tuple(lengths), tuple(verdicts)))
        starts = np.concatenate([[0], np.cumsum(lengths)])
        parts = {
            s: frame.iloc[starts[i] : starts[i + 1]].set_axis(
                pd.RangeIndex(lengths[i]), axis=0, copy=False
            )
            for i, s in enumerate(symbols)
        }
        frames.update(parts)
        outcomes.extend(_split_by_symbol(verdicts, parts, max_rows))
    index = site_dir.resolve() / "index.html"
    logger.info("validated %d symbols; Data Docs at %s", len(bars), index)
    return SuiteRun(
        outcomes=tuple(sorted(outcomes, key=lambda o: (o.symbol, o.check))),
        data_docs_index=index,
        frames=frames,
        batches=tuple(batches),
    )


def batch_symbols(bars: Mapping[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Symbols grouped by identical columns and dtypes; batch name → symbols (sorted).

    The usual case, every symbol in the store's layout, is one batch; a symbol with a
    different layout (a missing column, a naive time) is a batch of its own.
    """
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for symbol in sorted(bars):
        frame = bars[symbol]
        signature = tuple(sorted((str(c), str(frame[c].dtype)) for c in frame.columns))
        groups.setdefault(signature, []).append(symbol)
    ordered = sorted(groups.values(), key=len, reverse=True)
    return {_batch_name(g): g for g in ordered}


def _batch_name(symbols: list[str]) -> str:
    """The Data Docs name of a batch: its symbols, abbreviated past six."""
    if len(symbols) <= 6:
        return "+".join(symbols)
    return f"{'+'.join(symbols[:5])}+{len(symbols) - 5}_more"


def _split_by_symbol(
    verdicts: list[Verdict], parts: Mapping[str, pd.DataFrame], max_rows: int
) -> list[CheckOutcome]:
    """Per-symbol outcomes: table checks apply to each symbol, row checks are counted per symbol."""
    outcomes: list[CheckOutcome] = []
    for v in verdicts:
        per_symbol: dict[str, np.ndarray] = {}
        if not v.success and not v.raised and not v.check.startswith(TABLE_CHECK_PREFIXES):
            for symbol, part in parts.items():
                mask = check_masks(part, functools.partial(operator.eq, v.check)).get(v.check)
                if mask is not None:
                    per_symbol[symbol] = mask
        for symbol in parts:
            if symbol in per_symbol:
                hits = np.flatnonzero(per_symbol[symbol])
                outcomes.append(
                    CheckOutcome(
                        symbol,
                        v.check,
                        not len(hits),
                        len(hits),
                        tuple(int(i) for i in hits[:max_rows]),
                        v.columns,
                        v.detail,
                    )
                )
            else:  # table-level, passed, or GX could not evaluate it: same for every symbol
                rows = v.rows if len(parts) == 1 else ()
                outcomes.append(
                    CheckOutcome(symbol, v.check, v.success, v.count, rows, v.columns, v.detail)
                )
    return outcomes
