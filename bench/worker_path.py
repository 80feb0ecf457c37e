"""Benchmark: the whole worker path per closed bar, and a hold-out replay, against ``decide()``.

Two LightGBM momentum models (``models.strategies.lgbm_momentum``, trained by the production
``models.training.run_training`` on a synthetic market from ``data_contracts.synthetic``: a
150-tree champion and a 100-tree canary) are served to the real ``serving.worker.Worker`` by
an in-process model source (no registry). The worker trades a *hedging* ``SimTerminal``
(latency 0), so champion and canary both send orders, through a real ``Mt5Broker``, with a
real ``WorkerMetrics``, a ``ReplayClock`` and the real ``serving.journal.Journal`` on a
temporary SQLite file (WAL). The replay covers the training run's hold-out: 3,400 bar times ×
3 symbols × 2 roles = 20,400 decisions. Breaker limits that would stop trading part-way (the
latency SLO, the PSI threshold of a regime change the market contains) are set out of reach,
so every bar takes the full path; their per-bar work is still done.

- ``replay``: wall seconds of ``Worker.run()`` over the whole hold-out — between bars the
  alias refresh and ``SimTerminal.advance()``, per bar the breakers' watch (stale bars, the
  book, daily loss), per symbol and role: the closed window, ``decide``, metrics, sizing, the
  decision row, the intent row, ``order_check`` + ``order_send`` and the order rows and
  event. Baseline: the same number of ``decide()`` calls alone, on the same windows (read
  back from a fresh terminal, untimed), in the worker's order, by fresh model instances;
  the fastest of three runs. CPU seconds of both are printed too: on a shared machine they
  say what the wall seconds cannot.
- ``bar_to_order_p50`` / ``bar_to_order_p99``: per symbol-bar. Each ``Worker.process_bar()``
  of that replay is timed (an instance-attribute wrapper; ``run()`` calls it) and divided
  by the symbols it handled, so a figure is one closed bar in → both roles' decisions
  journaled, breakers, sizing, intents journaled, ``order_send`` returned, outcomes
  journaled, with the bar's shared watch work shared out. The alias refresh and
  ``advance()`` between bars are not in it (they are in ``replay``). Baseline: the
  ``decide()`` time of the same bars in the same run (the worker's own decision timer,
  summed per bar and divided the same way), so the ratio is the path over its two decides.
  Inside the worker a ``decide()`` runs with caches the journal has just churned through,
  several times slower than in the baseline's tight loop. Target: p99 ≤ 2 ms.

Then the same path is replayed for ``--profile-bars`` bar times under ``cProfile``, and the
time per decision is split at the boundaries into the journal (``serving.journal*``,
``serving.execution.store``, ``.intent_tables`` and all below them), SimTerminal
(``serving.sim``), ``decide``
(the strategy file and LightGBM below it), metrics (``prometheus_client``) and the rest (the
worker, broker, executor, breakers). The profiler's clock is the process's CPU time, so time
spent waiting for a core another process holds is left out. cProfile inflates Python-heavy
parts more than C-heavy ones; read it for shares, not for the un-profiled figures.

Run: ``.venv/bin/python bench/worker_path.py [--bars N] [--profile-bars N] [--no-write]``;
writes three entries of ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import write_entry
from bench.worker_setup import (
    HOLDOUT_BARS,
    MAGIC,
    SYMBOLS,
    Trained,
    build_worker,
    decisions_in,
    journal_file,
    journal_mode,
    orders_in,
    replay_bars,
    sim_terminal,
    train,
)
from serving.mt5 import constants as mt5

IN_WORKER = "decide() of both roles, in the worker"
ALONE = "decide() alone"


class StampTimer:
    """The worker's decision timer, keeping every stamp (two per ``decide()``)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self) -> float:
        now = time.perf_counter()
        self.stamps.append(now)
        return now


def time_replay(
    trained: Trained, bars: Mapping[str, pd.DataFrame], scratch: Path
) -> dict[str, Any]:
    """One timed ``Worker.run()`` over the replay, with every ``process_bar`` timed too."""
    term = sim_terminal(bars, trained.holdout_start)
    timer = StampTimer()
    bar_seconds: list[float] = []
    decide_seconds: list[float] = []
    with journal_file(scratch) as journal:
        worker = build_worker(term, journal, trained.models(), timer)
        process_bar = worker.process_bar

        def timed_process_bar() -> None:
            first = len(timer.stamps)
            started = time.perf_counter()
            process_bar()
            bar_seconds.append(time.perf_counter() - started)
            stamps = timer.stamps[first:]
            decide_seconds.append(
                sum(b - a for a, b in zip(stamps[::2], stamps[1::2], strict=True))
            )

        worker.process_bar = timed_process_bar  # type: ignore[method-assign]
        started, cpu = time.perf_counter(), time.process_time()
        bars_run = worker.run()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        decisions, orders = decisions_in(journal), orders_in(journal)
        mode = journal_mode(journal)
    deals = term.history_deals_get(0, 2**40) or ()
    assert {d.magic for d in deals} == {MAGIC, MAGIC + 1}, "champion and canary both trade"
    return {
        "wall": wall,
        "cpu": cpu,
        "bars": bars_run,
        "decisions": decisions,
        "orders": orders,
        "deals": len(deals),
        "journal_mode": mode,
        "bar_path": np.asarray(bar_seconds) / len(SYMBOLS),
        "bar_decide": np.asarray(decide_seconds) / len(SYMBOLS),
    }


def replay_windows(trained: Trained, bars: Mapping[str, pd.DataFrame]) -> list[np.ndarray]:
    """The closed windows the worker decided on, in its order (symbol, then role), read
    from a fresh terminal (untimed)."""
    term = sim_terminal(bars, trained.holdout_start)
    window = next(iter(trained.models().values())).model.window
    windows = []
    while True:
        for symbol in SYMBOLS:
            rates = term.copy_rates_from_pos(symbol, mt5.TIMEFRAME_H1, 1, window)
            windows.append(np.array(rates))
        if not term.advance():
            return windows


def time_decide_alone(trained: Trained, windows: list[np.ndarray]) -> tuple[float, float]:
    """Wall and CPU seconds of champion and canary deciding every window (fresh streams),
    the fastest of three runs (it takes a second; the worker's replay minutes)."""
    best = (float("inf"), float("inf"))
    for _ in range(3):
        models = [m.model for m in trained.models().values()]
        started, cpu = time.perf_counter(), time.process_time()
        for window in windows:
            for model in models:
                model.decide(window)
        best = min(best, (time.perf_counter() - started, time.process_time() - cpu))
    return best


CATEGORIES: dict[str, tuple[str, ...]] = {
    "journal": (
        "serving/journal",
        "serving/execution/store.py",
        "serving/execution/intent_tables.py",
    ),
    "SimTerminal": ("serving/sim/",),
    "decide": ("models/strategies/lgbm_momentum.py",),
    "metrics": ("prometheus_client/",),
}


def category_of(filename: str) -> str | None:
    path = filename.replace(os.sep, "/")
    return next((c for c, parts in CATEGORIES.items() if any(p in path for p in parts)), None)


def split_profile(stats: pstats.Stats) -> dict[str, float]:
    """Seconds spent inside each category: the cumulative time of its functions counted
    only on calls that enter it from outside, so nothing is counted twice. A generator or
    lambda called back by a builtin (``sum(... for ...)``, ``sorted(key=...)``) belongs to
    the code that called the builtin, which is already counted."""
    spent = dict.fromkeys(CATEGORIES, 0.0)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        category = category_of(func[0])
        if category is None:
            continue
        for caller, (_ccc, _cnc, _ctt, cct) in callers.items():
            if caller[0] == "~" and func[2].startswith("<"):
                continue
            if category_of(caller[0]) != category:
                spent[category] += cct
    return spent


def profile_replay(trained: Trained, bar_times: int, scratch: Path) -> dict[str, Any]:
    """A shorter replay under cProfile; seconds per category and in all."""
    bars = replay_bars(trained, bar_times)
    term = sim_terminal(bars, trained.holdout_start)
    with journal_file(scratch) as journal:
        worker = build_worker(term, journal, trained.models())
        profiler = cProfile.Profile(time.process_time)  # CPU: a shared machine's waits left out
        profiler.enable()
        worker.run()
        profiler.disable()
        decisions = decisions_in(journal)
    stats = pstats.Stats(profiler)
    total: float = stats.total_tt  # type: ignore[attr-defined]
    return {"split": split_profile(stats), "total": total, "decisions": decisions, "stats": stats}


def entry(name: str, figure: float, baseline: str, base: float) -> dict[str, Any]:
    return {
        "name": name,
        "figure": figure,
        "unit": "seconds",
        "baseline": baseline,
        "baseline_figure": base,
        "ratio": figure / base,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=HOLDOUT_BARS, help="hold-out bar times")
    parser.add_argument("--profile-bars", type=int, default=600, help="0: no profile")
    parser.add_argument("--top", type=int, default=0, help="print the top N functions")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    trained = train(max(args.bars, args.profile_bars))
    print(f"trained champion and canary in {time.perf_counter() - started:.1f} s")
    bars = replay_bars(trained, args.bars)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tate-bench-worker-") as scratch:
        timed = time_replay(trained, bars, Path(scratch))
    windows = replay_windows(trained, bars)
    alone, alone_cpu = time_decide_alone(trained, windows)
    load = f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"

    decisions, us = timed["decisions"], 1e6
    assert decisions == 2 * len(windows), (decisions, len(windows))
    path50, path99 = np.percentile(timed["bar_path"], [50, 99])
    base50, base99 = np.percentile(timed["bar_decide"], [50, 99])
    print(f"replay: {timed['bars']:,} bar times × {len(SYMBOLS)} symbols × 2 roles = "
          f"{decisions:,} decisions, {timed['orders']:,} order events, {timed['deals']:,} deals, "
          f"journal {timed['journal_mode']} ({load})")  # fmt: skip
    print(f"  worker   {timed['wall']:7.2f} s  {decisions / timed['wall']:8,.0f} decisions/s  "
          f"{timed['wall'] / decisions * us:7.1f} µs/decision")  # fmt: skip
    print(f"  decide() {alone:7.2f} s  {decisions / alone:8,.0f} decisions/s  "
          f"{alone / decisions * us:7.1f} µs/decision")  # fmt: skip
    print(f"  ratio    {timed['wall'] / alone:7.2f} ×   (target ≤ 10 ×; in CPU seconds "
          f"{timed['cpu']:.2f} s / {alone_cpu:.2f} s = {timed['cpu'] / alone_cpu:.2f} ×)")  # fmt: skip
    print("bar_to_order, per symbol-bar (both roles):")
    print(
        f"  path     p50 {path50 * us:8.1f} µs   p99 {path99 * us:8.1f} µs   (target p99 ≤ 2,000 µs)"
    )
    print(f"  decide() p50 {base50 * us:8.1f} µs   p99 {base99 * us:8.1f} µs")
    print(f"  ratio    p50 {path50 / base50:8.2f} ×    p99 {path99 / base99:8.2f} ×")

    if args.profile_bars:
        with tempfile.TemporaryDirectory(prefix="tate-bench-worker-prof-") as scratch:
            prof = profile_replay(trained, args.profile_bars, Path(scratch))
        n = prof["decisions"]
        print(f"cProfile of {args.profile_bars} bar times ({n:,} decisions), µs per decision:")
        rest = prof["total"] - sum(prof["split"].values())
        for name, seconds in [*prof["split"].items(), ("worker, broker, breakers, rest", rest)]:
            share = seconds / prof["total"]
            print(f"  {name:<32} {seconds / n * us:8.1f} µs  {share:6.1%}")
        print(f"  {'total (profiled)':<32} {prof['total'] / n * us:8.1f} µs")
        if args.top:
            prof["stats"].sort_stats("tottime").print_stats(args.top)

    if not args.no_write:
        write_entry(entry("bar_to_order_p50", float(path50), IN_WORKER, float(base50)))
        write_entry(entry("bar_to_order_p99", float(path99), IN_WORKER, float(base99)))
        write_entry(entry("replay", timed["wall"], ALONE, alone))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
