"""How each model role trades, chosen once at start-up from the account's margin mode.

The champion trades the account under the broker's magic; the canary under magic + 1, which
only a hedging account keeps apart. On a netting account positions cannot be split, so the
canary trades a shadow SimTerminal instead (journal role ``shadow``, paper orders the account's
book and reconciliation never see), or, without one, decides but never trades. Any other role
decides only. The worker asks its role objects, never the account, on every bar:

- ``AccountRole``: sized from its share of the budget, trades the account (a ``Target`` for the
  executor), and remembers what it wanted, which the tripped policy reads;
- ``ShadowRole``: sized like the canary, sends its orders at once on the shadow terminal;
- ``DecideOnlyRole``: journals size 0 and trades nothing.

A netting account's canary says once, on its first use, which of the last two it is.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

from serving.execution.events import OrderEvent
from serving.execution.trades import Target, decided_target
from serving.journal import JournalWrites
from serving.mt5 import constants as mt5
from serving.mt5.types import AccountInfo
from serving.ports import Broker

logger = logging.getLogger(__name__)

TRADING_ROLES = ("champion", "canary")
NETTING = "netting account: the canary %s"

Record = Callable[[OrderEvent, str, JournalWrites], None]
"""``(event, journal role, writes)``: the worker's record of an order event."""


class Role:
    """A role that decides and trades nothing (the base of the others)."""

    def __init__(
        self,
        name: str,
        *,
        journal_role: str | None = None,
        budget: float = 0.0,
        notice: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.journal_role = name, journal_role or name
        self.budget = budget  # share of the worker's max volume at confidence 1
        self._notice = notice  # said once, on first use

    def _noticed(self) -> None:
        if self._notice is not None:
            self._notice()
            self._notice = None

    def tradable(self) -> bool:
        """Whether a decision gets a size (and orders, breakers allowing)."""
        self._noticed()
        return False

    def account_broker(self) -> Broker | None:
        """The broker of its positions on the account (which the tripped policy manages);
        None when it holds none there."""
        self._noticed()
        return None

    def decided(self, symbol: str, target: float) -> None:
        """Hear the target a decision chose (held or not, tripped or not)."""

    def desired(self, symbol: str) -> float:
        """The target its last decision in ``symbol`` chose (0 before any)."""
        return 0.0

    def order(
        self, symbol: str, target: float, intent_id: str, bar_time: int, writes: JournalWrites
    ) -> Target | None:
        """Bring the decision about: a target for the executor, or None when done here."""
        return None


class DecideOnlyRole(Role):
    """Decides and journals (size 0), never trades."""


class AccountRole(Role):
    """Trades the account under its broker's magic."""

    def __init__(self, name: str, broker: Broker, budget: float) -> None:
        super().__init__(name, budget=budget)
        self.broker = broker
        self._desired: dict[str, float] = {}  # symbol -> what the last decision wanted

    def tradable(self) -> bool:
        return True

    def account_broker(self) -> Broker | None:
        return self.broker

    def decided(self, symbol: str, target: float) -> None:
        self._desired[symbol] = target

    def desired(self, symbol: str) -> float:
        return self._desired.get(symbol, 0.0)

    def order(
        self, symbol: str, target: float, intent_id: str, bar_time: int, writes: JournalWrites
    ) -> Target | None:
        return decided_target(self.broker, symbol, target, intent_id, self.name, bar_time)


class ShadowRole(Role):
    """Trades a shadow terminal, journaled as ``shadow``: paper orders, sent at once."""

    def __init__(
        self,
        name: str,
        broker: Broker,
        budget: float,
        record: Record,
        notice: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name, journal_role="shadow", budget=budget, notice=notice)
        self.broker, self.record = broker, record

    def tradable(self) -> bool:
        self._noticed()
        return True

    def order(
        self, symbol: str, target: float, intent_id: str, bar_time: int, writes: JournalWrites
    ) -> Target | None:
        # the account's journal book (intents) and reconciliation ignore these orders
        for event in self.broker.rebalance(symbol, target, intent_id=intent_id):
            self.record(event, self.journal_role, writes)
        return None


def is_hedging(account: AccountInfo | None) -> bool:
    """Whether the account keeps positions apart (a silent terminal counts as netting)."""
    return account is not None and account.margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


def choose_roles(
    hedging: bool,
    brokers: Mapping[str, Broker],
    *,
    canary_fraction: float,
    shadow: Broker | None,
    record: Record,
    log: logging.Logger = logger,
) -> dict[str, Role]:
    """The trading roles' objects for an account: ``brokers`` holds the champion's and the
    canary's (magic + 1), ``shadow`` the canary's broker on a shadow terminal, if any."""
    canary: Role
    if hedging:
        canary = AccountRole("canary", brokers["canary"], canary_fraction)
    elif shadow is not None:
        notice = functools.partial(log.warning, NETTING, "trades in shadow on a SimTerminal")
        canary = ShadowRole("canary", shadow, canary_fraction, record, notice)
    else:
        why = "decides but does not trade (no shadow terminal)"
        notice = functools.partial(log.warning, NETTING, why)
        canary = DecideOnlyRole("canary", budget=canary_fraction, notice=notice)
    return {"champion": AccountRole("champion", brokers["champion"], 1.0), "canary": canary}
