"""The canary gate on SimTerminal replays through the real worker and a real MLflow registry.

Champion and canary are in-process models behind the real ``AliasPoller`` (aliases and the
canary's fraction tag read from a SQLite registry under ``tmp_path`` at every bar), trading a
hedging SimTerminal through the real broker and journal. Their edges are known by
construction: the champion flips a fair coin per bar; a "truly better" canary knows the next
bar's move (an oracle over the replayed bars), a worse one bets against it. The gate
(``tate gate`` or ``run_gate``) then reads that journal and acts on the registry.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows import canary_registry, tracking
from flows.canary_gate import run_gate
from flows.cli import app
from flows.settings import TateSettings
from serving.clocks import ReplayClock
from serving.execution.broker import Mt5Broker
from serving.journal import Journal
from serving.metrics import WorkerMetrics
from serving.registry.reader import ClientRegistryReader
from serving.registry.source import AliasPoller
from serving.risk.board import RiskLimits
from serving.sim.shadow import ShadowTerminal
from serving.sim.terminal import SimTerminal
from serving.worker import Worker
from tests.factories import make_replay_bars
from tests.fakes import FakeDecision

pytestmark = pytest.mark.integration

SYMBOL = "EURUSD"
CHAMPION, BETTER, WORSE = "1", "2", "3"
SEGMENT = 70  # bars between two gate runs: enough trades for the gate's minimum below


class CoinModel:
    """No edge: a fair coin per bar, the same coin in every replay."""

    window = 4

    def decide(self, window: np.ndarray) -> FakeDecision:
        digest = hashlib.sha1(str(int(window["time"][-1])).encode()).digest()
        signal = 1 if digest[0] % 2 else -1
        return FakeDecision(signal, 1.0, 0.5 + signal / 4, np.array([0.0]))


class OracleModel:
    """Knows the move of the bar its order will be held over (``side`` -1: bets against it).

    A decision on bar t fills at the open of t + 1 and is held until the open of t + 2."""

    window = 4

    def __init__(self, bars: pd.DataFrame, side: int) -> None:
        times = bars["time"].astype("int64") // 10**9
        opens = bars["open"].to_numpy()
        self.move = {int(t): opens[i + 2] - opens[i + 1] for i, t in enumerate(times[:-2])}
        self.side = side

    def decide(self, window: np.ndarray) -> FakeDecision:
        move = self.move.get(int(window["time"][-1]), 0.0)
        signal = self.side * (1 if move >= 0 else -1)
        return FakeDecision(signal, 1.0, 0.5 + signal / 4, np.array([0.0]))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TateSettings:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TATE_GATE_MIN_BARS", "40")
    monkeypatch.setenv("TATE_GATE_MIN_TRADES", "15")
    # ~70 orders a segment cannot show a 1 % margin on errors (that takes hundreds)
    monkeypatch.setenv("TATE_GATE_ERROR_RATE_MARGIN", "0.05")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    found = TateSettings()
    found.mlflow_dir.mkdir(parents=True)
    return found


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_replay_bars((SYMBOL,), n=SEGMENT * 5 + 20, seed=5)[SYMBOL]


def register(settings: TateSettings, canary: str) -> None:
    """Three versions (coin, better, worse); champion v1 and the named canary."""
    client = tracking.client(settings)
    client.create_registered_model(settings.model_name)
    for _ in range(3):
        client.create_model_version(settings.model_name, source=str(settings.home), run_id=None)
    client.set_registered_model_alias(settings.model_name, "champion", CHAMPION)
    client.set_registered_model_alias(settings.model_name, "canary", canary)


class Replay:
    """One SimTerminal account replayed through the worker in segments (a gate run between)."""

    def __init__(
        self,
        settings: TateSettings,
        bars: pd.DataFrame,
        timer: Callable[[], float] | None,
        netting: bool = False,
    ) -> None:
        models: dict[str, Any] = {
            CHAMPION: CoinModel(),
            BETTER: OracleModel(bars, +1),
            WORSE: OracleModel(bars, -1),
        }
        uri = tracking.tracking_uri(settings)
        poller = AliasPoller(
            settings.model_name, ClientRegistryReader(uri), lambda _name, v: models[v]
        )
        self.terminal = SimTerminal(
            {SYMBOL: bars}, account_mode="netting" if netting else "hedging",
            start=bars["time"][6].to_pydatetime(),
            balance=10_000_000.0,
        )  # fmt: skip
        self.terminal.initialize()
        self.journal = Journal(settings.journal)
        clock = ReplayClock(self.terminal)
        broker = Mt5Broker(self.terminal, magic=4100, now=clock.now, sleep=clock.sleep)
        limits = RiskLimits(
            drift_sizing=False, psi_threshold=float("inf"), latency_min_samples=10**9
        )
        extra: dict[str, Any] = {} if timer is None else {"timer": timer}
        if netting:  # the canary trades paper on a shadow SimTerminal; journal role "shadow"
            shadow = ShadowTerminal(self.terminal, (SYMBOL,), "H1", history=50)
            shadow.initialize()
            extra["shadow_terminal"] = shadow
        self.worker = Worker(
            self.terminal, broker, self.journal, poller, WorkerMetrics(), clock, (SYMBOL,), "H1",
            max_volume=1.0, canary_fraction=settings.canary_fraction, limits=limits, **extra,
        )  # fmt: skip

    def trade(self, bars: int) -> None:
        self.worker.run(max_bars=bars)

    def canary_sizes(self, version: str) -> set[float]:
        decisions = self.journal.read_decisions(version=version)
        return set(decisions.loc[decisions["role"] == "canary", "size"].round(4))


@pytest.fixture
def replay(settings: TateSettings, bars: pd.DataFrame) -> Iterator[Callable[..., Replay]]:
    made: list[Replay] = []

    def make(timer: Callable[[], float] | None = None, netting: bool = False) -> Replay:
        made.append(Replay(settings, bars, timer, netting))
        return made[-1]

    yield make
    for one in made:
        one.journal.close()


def version_tags(settings: TateSettings, version: str) -> dict[str, str]:
    return dict(tracking.model_version(settings, version).tags)


def gate_cli() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["gate"])
    return result.exit_code, result.output


def test_a_truly_better_canary_is_widened_stage_by_stage_then_promoted(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=BETTER)
    run = replay()
    outcomes, sizes = [], []
    for _ in range(4):
        run.trade(SEGMENT)
        code, output = gate_cli()
        assert code == 0, output
        outcomes.append(run_outcome(settings))
        sizes.append(run.canary_sizes(BETTER))
    assert outcomes == ["widen", "widen", "widen", "promote"]
    # the worker read each widened fraction at its next poll: 5 % → 10 → 25 → 50 % of 1 lot
    assert sizes[0] == {0.05}
    assert sizes[1] == {0.05, 0.1}
    assert sizes[3] == {0.05, 0.1, 0.25, 0.5}
    aliases, _ = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": BETTER}
    old = version_tags(settings, CHAMPION)
    assert old["retired"] == "true" and old["tate.gate.outcome"] == "promote"
    new = version_tags(settings, BETTER)
    assert new["tate.gate.outcome"] == "promote"
    assert float(new["tate.canary_fraction"]) == 0.5
    reports = sorted((settings.reports_dir / "canary-gate").glob("*/report.md"))
    assert len(reports) == 4 and "# canary gate: promote" in reports[-1].read_text()
    runs = tracking.client(settings).search_runs(
        [tracking.use_experiment(settings)], "tags.`tate.kind` = 'canary-gate'"
    )
    assert sorted(r.data.tags["tate.gate.outcome"] for r in runs) == ["promote", *["widen"] * 3]
    assert all("canary_mean_return" in r.data.metrics for r in runs)


def run_outcome(settings: TateSettings) -> str:
    """The outcome the last gate run recorded on the champion-or-canary version it judged."""
    runs = tracking.client(settings).search_runs(
        [tracking.use_experiment(settings)],
        "tags.`tate.kind` = 'canary-gate'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return str(runs[0].data.tags["tate.gate.outcome"])


def test_a_worse_canary_is_rolled_back_and_tate_gate_exits_1(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=WORSE)
    replay().trade(SEGMENT)
    code, output = gate_cli()
    assert code == 1, output
    assert "rolled back" in output
    aliases, _ = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": CHAMPION}
    tags = version_tags(settings, WORSE)
    assert tags["tate.gate.outcome"] == "rollback"
    assert "worse than the champion" in tags["rolled_back_reason"]
    assert version_tags(settings, CHAMPION)["tate.gate.outcome"] == "rollback"


def test_a_canary_with_too_little_data_is_held(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=BETTER)
    replay().trade(12)
    result = run_gate(settings)
    assert result.outcome == "hold"
    assert "not enough evidence" in result.reasons[0]
    aliases, _ = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": CHAMPION, "canary": BETTER}
    assert "tate.canary_fraction" not in version_tags(settings, BETTER)


def slow_timer() -> Callable[[], float]:
    """Every decision takes 0.3 s by the worker's timer: over the 0.2 s SLO, for both roles."""
    ticks = itertools.count(0.0, 0.3)
    return lambda: next(ticks)


def test_a_spent_error_budget_freezes_promotion_of_a_better_canary(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=BETTER)
    run = replay(slow_timer())
    run.trade(SEGMENT)
    journaled = run.journal.read_decisions()["latency_seconds"]
    assert journaled.round(6).unique().tolist() == [0.3]  # the worker journals each latency
    result = run_gate(settings)
    assert result.outcome == "frozen"
    assert "error budget is spent" in result.reasons[0]
    assert any("champion latency" in b and "remaining -" in b for b in result.budgets)
    assert result.numbers["budget_canary latency_remaining"] < 0
    aliases, _ = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": CHAMPION, "canary": BETTER}
    assert "tate.canary_fraction" not in version_tags(settings, BETTER)


def test_a_spent_error_budget_does_not_block_rolling_back_a_worse_canary(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=WORSE)
    replay(slow_timer()).trade(SEGMENT)
    result = run_gate(settings)
    assert result.outcome == "rollback"
    aliases, _ = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": CHAMPION}


def test_an_alias_moved_by_hand_between_two_gate_runs_is_left_alone(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=BETTER)
    run = replay()
    run.trade(SEGMENT)
    assert run_gate(settings).outcome == "widen"
    # a person in the MLflow UI points canary at v3 instead
    tracking.client(settings).set_registered_model_alias(settings.model_name, "canary", WORSE)
    run.trade(10)
    moved = run_gate(settings)
    assert moved.outcome == "hold"
    assert "moved by hand" in moved.reasons[0]
    aliases, tags = canary_registry.registry_aliases(settings)
    assert aliases == {"champion": CHAMPION, "canary": WORSE}
    assert "found champion=1,canary=3" in tags["tate.gate.hand_moved"]
    # the next run takes the person's aliases as its starting point and judges v3 on evidence
    assert run_gate(settings).outcome in ("hold", "rollback")


def test_on_a_netting_account_the_canarys_shadow_trades_are_its_evidence(
    settings: TateSettings, replay: Callable[..., Replay]
) -> None:
    register(settings, canary=BETTER)
    run = replay(netting=True)
    run.trade(SEGMENT)
    roles = set(run.journal.read_decisions()["role"])
    assert roles == {"champion", "shadow"}
    result = run_gate(settings)
    assert result.outcome == "widen", result.reasons
    assert result.numbers["canary_trades"] >= 15
