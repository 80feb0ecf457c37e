"""Each decision carries its latency (``model.decide``, seconds): the decision-latency SLO
and the canary gate read it from the journal. Rows from before say null (not measured).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("latency_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "latency_seconds")
