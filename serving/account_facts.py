"""The account a worker trades, as the journal remembers it: currency, leverage, margin mode.

Every journal row names its account (``login@server``) but money is valued in the account's
*currency*, which only the terminal knows (``account_info().currency``). A reader of the
journal alone — `tate status` valuing today's PnL — would otherwise have to guess it. The
worker reads ``account_info()`` once when it starts and writes these facts then, one row per
account, rewritten at each start (a broker may change the leverage; a login's currency does
not change, but a rewrite costs nothing at start-up). Never on the decision path.

The row is updated, or inserted when there is none, in one transaction: no ``ON CONFLICT``
(``serving.journal`` writes nothing dialect-specific). Two workers never start on one account
at once (``serving.account_lock``), so nothing else races for the row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, update

from serving.identities import login_at_server
from serving.journal_schema import accounts
from serving.mt5.types import AccountInfo
from serving.utc import to_utc


@dataclass(frozen=True)
class AccountFacts:
    """What the journal keeps of one account."""

    account: str  # login@server
    currency: str
    leverage: int
    margin_mode: int


def facts_of(info: AccountInfo | None) -> AccountFacts | None:
    """The facts of ``account_info()``'s answer (None for none: nothing to record)."""
    if info is None:
        return None
    return AccountFacts(
        login_at_server(info), str(info.currency), int(info.leverage), int(info.margin_mode)
    )


def record_account(engine: Engine, info: AccountInfo | None, at: datetime) -> AccountFacts | None:
    """Write the facts of ``info`` as its account's row, stamped ``at`` (tz-aware), in one
    transaction; returns them (None, and nothing written, when there is no account)."""
    facts = facts_of(info)
    if facts is None:
        return None
    values = {**asdict(facts), "recorded_at": to_utc(at)}
    with engine.begin() as conn:
        changed = conn.execute(
            update(accounts).where(accounts.c.account == facts.account).values(values)
        )
        if changed.rowcount == 0:
            conn.execute(insert(accounts).values(values))
    return facts
