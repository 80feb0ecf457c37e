"""The great-expectations plumbing shared by the bar and universe suites.

The context is ephemeral (stores in memory) with one filesystem Data Docs site whose
``base_directory`` is the caller's ``site_dir``: nothing lands in a temp dir and nothing
accumulates between runs except the HTML the caller asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction, ValidationAction
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import EphemeralDataContext
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

SITE_NAME = "tate"


@dataclass(frozen=True)
class Verdict:
    """One expectation's result in tate's vocabulary, before it is split by symbol.

    ``count`` and ``rows`` are what GX itself reported (0 and ``()`` under BOOLEAN_ONLY);
    ``rows`` are positional row numbers of the validated frame.
    """

    check: str
    success: bool
    count: int
    rows: tuple[int, ...]
    columns: tuple[str, ...]
    detail: str = ""
    raised: bool = False


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
    return gx.get_context(project_config=config, mode="ephemeral")


def run_suite(
    context: EphemeralDataContext,
    suite: gx.ExpectationSuite,
    frame: pd.DataFrame,
    *,
    run_id: RunIdentifier,
    result_format: str,
    max_rows: int,
    data_docs: bool,
) -> list[Verdict]:
    """Validate ``frame`` with ``suite`` through a checkpoint of its own (its own Data Docs page).

    One checkpoint per frame because a dataframe asset receives its frame through the
    checkpoint's batch parameters, which are shared by all validations of one checkpoint.
    """
    source = (
        context.data_sources.get("frames")
        if "frames" in context.data_sources.all()
        else context.data_sources.add_pandas(name="frames")
    )
    batch = source.add_dataframe_asset(name=suite.name).add_batch_definition_whole_dataframe("all")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=context.suites.add(suite))
    )
    actions: list[ValidationAction] = (
        [UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])] if data_docs else []
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": result_format, "partial_unexpected_count": max_rows},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    return [to_verdict(r) for s in result.run_results.values() for r in s.results]


def to_verdict(result: Any) -> Verdict:
    """Read tate's check name (from ``meta``), success, GX's count/rows and a detail line."""
    meta = result.expectation_config.meta or {}
    check = str(meta.get("check", result.expectation_config.type))
    body: dict[str, Any] = dict(result.result or {})
    detail = ""
    if check == "schema" and not result.success:
        mismatched = body.get("details", {}).get("mismatched", {})
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(mismatched.items()))
        count = sum(len(v) for v in mismatched.values())
    elif check.startswith("dtype:") and not result.success:
        expected = result.expectation_config.kwargs.get("type_")
        detail = f"dtype {body.get('observed_value')}, expected {expected}"
        count = 1
    else:
        count = int(body.get("unexpected_count") or 0)
    info = result.exception_info or {}
    raised = bool(info.get("raised_exception"))
    if raised:
        detail = str(info.get("exception_message", "expectation raised"))
    elif not result.success and any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    ):  # exceptions are keyed per metric in GX 1.x
        messages = [v.get("exception_message", "") for v in info.values() if isinstance(v, dict)]
        detail = "; ".join(dict.fromkeys(m for m in messages if m)) or "could not be evaluated"
        raised = True
    return Verdict(
        check=check,
        success=bool(result.success),
        count=count,
        rows=tuple(int(i) for i in body.get("partial_unexpected_index_list") or ()),
        columns=tuple(meta.get("columns", ())),
        detail=detail,
        raised=raised,
    )
