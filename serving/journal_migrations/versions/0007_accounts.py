"""The ``accounts`` table: each account's currency, leverage and margin mode, as its worker
found them at start-up.

Money in the journal (fills' prices × volumes, `tate status`'s PnL) is valued in the account's
currency, which no earlier revision recorded: readers assumed USD, wrong for a EUR or JPY
account. The worker writes one row per account at each start (``serving.account_facts``), off
the decision path. A journal migrated from an earlier revision has no rows until a worker
starts on it; readers say the currency is unknown for such an account.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(96), primary_key=True),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("leverage", sa.Integer, nullable=False),
        sa.Column("margin_mode", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts")
