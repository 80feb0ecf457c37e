"""A backtest of a signal series and a replay of it through the worker on SimTerminal agree.

The replay is the production path: ``serving.worker.Worker`` deciding on closed bars, sizing
with the worker's sizing code, ``Mt5Broker`` sending market orders, SimTerminal filling them
at the next open (buy at the ask) with the shared cost model's slippage, commission and
latency. The backtest is ``models.backtest_bars`` on the same bars with lots sized by
``RiskBudget`` (the same ``sizes_from_confidence``).

Tolerances, and why:
- fills, commission, spread and slippage paid: equal (1e-9): both sides fill the same
  orders at the same bars and prices — the backtest on whole-point slippage needs no rounding.
- net PnL of symbols quoted in the account currency (EURUSD, GBPUSD in USD): 0.005 USD per
  deal, because the terminal rounds each deal's profit to the cent; nothing else differs.
- net PnL of USDJPY (based in the account currency): the terminal converts a position's whole
  yen profit at the bid of the deal that closes it, the backtest each bar's yen PnL at the
  bid that bar ends on. They differ by each bar's PnL times the relative change of USDJPY
  between that bar and the position's close — second order: with ~0.1 % hourly moves and
  holds of a few bars, under 0.2 % of the bar PnL even if nothing cancelled. The bound is
  0.2 % of the sum of |bar PnL| (about 20 USD here, against ~1,000 USD of costs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.backtest_bars import LotsBacktest, backtest_bars
from models.costs import CostModel
from models.sizing import RiskBudget
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.mt5 import constants as mt5
from serving.registry.source import LoadedModel
from serving.sim.terminal import SimTerminal
from serving.worker import ReplayClock, Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeDecision, FakeModelSource

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY")
QUOTED_IN_USD = ("EURUSD", "GBPUSD")
N_BARS, FLAT_TAIL, MAGIC, BALANCE = 300, 8, 7300, 100_000.0


class SeriesModel:
    """Emits a fixed (signal, confidence) per bar: the series under test, keyed by the
    window's last bar (time, close), since the worker hands a model only the window."""

    window = 1
    feature_names = ("signal",)

    def __init__(self, series: dict[tuple[int, float], tuple[int, float]]) -> None:
        self.series = series

    def decide(self, window: np.ndarray) -> FakeDecision:
        key = (int(window["time"][-1]), float(window["close"][-1]))
        signal, confidence = self.series[key]
        return FakeDecision(signal, confidence, 0.5 + signal * confidence / 2, np.array([signal]))


def _series(bars: dict[str, pd.DataFrame], seed: int = 11) -> dict[str, pd.DataFrame]:
    """Sticky pseudo-random -1/0/1 signals with confidences; flat over the last bars."""
    rng = np.random.default_rng(seed)
    out = {}
    for symbol, frame in bars.items():
        n = len(frame)
        change = np.flatnonzero(rng.random(n) < 0.35)
        signal = np.zeros(n, dtype=np.int64)
        confidence = np.zeros(n)
        for start, stop in zip(change, np.r_[change[1:], n], strict=True):
            signal[start:stop] = rng.choice([-1, 0, 1])
            confidence[start:stop] = rng.choice([0.3, 0.55, 0.82, 1.0])
        signal[-FLAT_TAIL:] = 0
        out[symbol] = pd.DataFrame({"signal": signal, "confidence": confidence})
    return out


def _replay(
    bars: dict[str, pd.DataFrame], series: dict[str, pd.DataFrame], costs: CostModel
) -> SimTerminal:
    lookup = {
        (int(t.timestamp()), float(c)): (int(s), float(p))
        for symbol, frame in bars.items()
        for t, c, s, p in zip(
            frame["time"], frame["close"], series[symbol]["signal"], series[symbol]["confidence"],
            strict=True,
        )
    }  # fmt: skip
    assert len(lookup) == sum(len(f) for f in bars.values())  # no two bars share a key
    term = SimTerminal(bars, costs=costs, start=1, balance=BALANCE)
    term.initialize()
    source = FakeModelSource(
        {"champion": LoadedModel("series", "1", "champion", SeriesModel(lookup))}
    )
    worker = Worker(
        term, Mt5Broker(term, magic=MAGIC), Journal("sqlite://"), source, WorkerMetrics(),
        ReplayClock(term), SYMBOLS, "H1", max_volume=1.0,
    )  # fmt: skip
    assert worker.run() == N_BARS - 1
    assert not worker.breakers.tripped, "a breaker stopped trading: the replay would diverge"
    return term


def _deal_costs(term: SimTerminal, symbol: str, bars: pd.DataFrame) -> float:
    """Spread + slippage the replay paid: each fill's distance from its bar's opening bid."""
    open_bid = dict(zip((t.timestamp() for t in bars["time"]), bars["open"], strict=True))
    total = 0.0
    for deal in term.history_deals_get(0, 2**40, group=symbol):
        bid = open_bid[deal.time]
        paid = deal.price - bid if deal.type == mt5.DEAL_TYPE_BUY else bid - deal.price
        value = CostModel().value_per_price_unit(symbol, bid)
        total += deal.volume * paid * float(value)
    return total


@pytest.mark.parametrize("latency", [0, 1, 2])
def test_backtest_and_worker_replay_on_sim_terminal_agree(latency: int) -> None:
    bars = make_replay_bars(SYMBOLS, n=N_BARS, seed=5)
    series = _series(bars)
    costs = CostModel(
        commission_per_lot=3.5,
        slippage_fixed_points=1.0,
        slippage_range_fraction=0.05,
        latency_bars=latency,
    )
    budget = RiskBudget(max_volume=1.0)
    lots = {s: budget.lots(series[s]["signal"], series[s]["confidence"]) for s in SYMBOLS}
    backtest: dict[str, LotsBacktest] = backtest_bars(bars, lots, costs=costs)
    term = _replay(bars, series, costs)

    assert term.positions_get() == () and term.orders_get() == ()
    for symbol in SYMBOLS:
        deals = term.history_deals_get(0, 2**40, group=symbol)
        bt = backtest[symbol]
        assert len(deals) == bt.fills > 20
        assert -sum(d.commission for d in deals) == pytest.approx(bt.commission_paid, abs=1e-9)
        assert _deal_costs(term, symbol, bars[symbol]) == pytest.approx(
            bt.spread_paid + bt.slippage_paid, rel=1e-9
        )
        replay_pnl = sum(d.profit + d.commission for d in deals)
        if symbol in QUOTED_IN_USD:
            assert replay_pnl == pytest.approx(bt.net_pnl, abs=0.005 * len(deals) + 1e-6)
        else:
            moves = float(np.abs(bt.sim.gross).sum())
            assert replay_pnl == pytest.approx(bt.net_pnl, abs=0.002 * moves)
