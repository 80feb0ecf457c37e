"""Signed lots have one home (``serving.mt5.lots``): a buy counts +volume, a sell −volume, a
pending market order what is still open of it; and the start-up check reaches the journal and
the terminal through a ``Reconciler``, never through the executor (no import circle)."""

from __future__ import annotations

import ast
from pathlib import Path

from serving.mt5 import constants as mt5
from serving.mt5.lots import order_lots, position_lots
from tests.unit.test_reconcile import order, position

ROOT = Path(__file__).resolve().parents[2]


def test_buy_positions_count_positive_and_sell_positions_negative() -> None:
    assert position_lots(position(type=mt5.POSITION_TYPE_BUY, volume=0.3)) == 0.3
    assert position_lots(position(type=mt5.POSITION_TYPE_SELL, volume=0.3)) == -0.3


def test_a_pending_order_counts_what_is_still_open_of_it() -> None:
    buy = order(type=mt5.ORDER_TYPE_BUY, volume_initial=0.5, volume_current=0.2)
    sell = order(type=mt5.ORDER_TYPE_SELL, volume_initial=0.5, volume_current=0.2)
    assert (order_lots(buy), order_lots(sell)) == (0.2, -0.2)


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return found | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) if n.module}


def test_the_start_up_check_and_the_reconciler_never_import_the_executor() -> None:
    for module in ("serving/execution/startup.py", "serving/execution/open_orders.py"):
        assert "serving.execution.executor" not in _imports(module), module
    assert "serving.execution.startup" in _imports("serving/execution/executor.py")
