"""SimTerminal, its shadow and the tests' terminals all answer the ``Terminal`` port: every call
it declares, with parameters by the names the port gives them (so keyword calls reach them).

mypy checks SimTerminal and ShadowTerminal against the port statically (``flows.serve`` hands
them to the worker); this checks the test terminals, which mypy does not read, at run time."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from serving.mt5.terminal import ReplayTerminal, Terminal
from serving.sim.shadow import ShadowTerminal
from serving.sim.terminal import SimTerminal
from tests.factories import make_replay_bars
from tests.recording_terminal import TERMINAL_CALLS, RemoteTerminal
from tests.unit.test_broker import NoAnswerTerminal
from tests.unit.test_execution import WatchedTerminal
from tests.unit.test_worker import JournalCheckingTerminal

CALLS = sorted(n for n, v in vars(Terminal).items() if callable(v) and not n.startswith("_"))


def misfits(terminal: object) -> list[str]:
    """The port's calls the terminal lacks or cannot take by the port's parameter names."""
    problems = []
    for name in CALLS:
        call = getattr(terminal, name, None)
        if call is None:
            problems.append(f"no {name}")
            continue
        params = inspect.signature(call).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            continue  # takes any keyword (a bridge's proxy)
        have = {p.name for p in params if p.kind is not p.VAR_POSITIONAL}
        wanted = list(inspect.signature(getattr(Terminal, name)).parameters)[1:]  # less self
        problems += [f"{name}: no parameter {p!r}" for p in wanted if p not in have]
    return problems


def _sim(cls: type[SimTerminal] = SimTerminal) -> SimTerminal:
    terminal = cls(make_replay_bars(("EURUSD",), n=20), start=10)
    terminal.initialize()
    return terminal


@pytest.mark.parametrize(
    "make",
    [
        _sim,
        lambda: ShadowTerminal(_sim(), ("EURUSD",), "H1"),
        lambda: _sim(NoAnswerTerminal),
        lambda: _sim(WatchedTerminal),
        lambda: _sim(JournalCheckingTerminal),
    ],
    ids=["SimTerminal", "ShadowTerminal", "NoAnswerTerminal", "WatchedTerminal", "Journal…"],
)
def test_replayed_terminals_answer_the_port(make: Callable[[], SimTerminal]) -> None:
    terminal = make()
    assert isinstance(terminal, Terminal) and isinstance(terminal, ReplayTerminal)
    assert misfits(terminal) == []


def test_the_remote_test_terminal_forwards_every_call_of_the_port() -> None:
    remote = RemoteTerminal.__new__(RemoteTerminal)  # no server: only its attributes are read
    assert set(CALLS) <= TERMINAL_CALLS
    assert isinstance(remote, Terminal) and misfits(remote) == []


def test_a_terminal_missing_a_call_or_a_parameter_name_does_not_fit() -> None:
    class Partial:
        def positions_get(self, sym: str | None = None) -> None:
            return None

    assert not isinstance(Partial(), Terminal)
    problems = misfits(Partial())
    assert "no order_send" in problems
    assert "positions_get: no parameter 'symbol'" in problems
    assert len(CALLS) >= 15  # the port itself did not lose its calls
