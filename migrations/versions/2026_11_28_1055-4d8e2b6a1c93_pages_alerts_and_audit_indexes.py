"""pages: the alerts list reads its page from an index (unacknowledged first, newest first);
the rates page finds the newest audit event of an action in one step

Revision ID: 4d8e2b6a1c93
Revises: 7f3a9c2e5d18
Create Date: 2026-11-28 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4d8e2b6a1c93"
down_revision: str | None = "7f3a9c2e5d18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = {
    "ix_alerts_unacknowledged_newest": "acknowledged_at IS NULL",
    "ix_alerts_acknowledged_newest": "acknowledged_at IS NOT NULL",
}


def upgrade() -> None:
    for name, where in WHERE.items():
        op.create_index(
            name,
            "alerts",
            ["raised_at", "id"],
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_action_id", table_name="audit_events")
    for name in WHERE:
        op.drop_index(name, table_name="alerts")
