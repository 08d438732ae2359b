"""rolls: a background import can be a dry run (large rolls through the API)

Revision ID: 7f3a9c2e5d18
Revises: 9e4a1c7b2f60
Create Date: 2026-11-28 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7f3a9c2e5d18"
down_revision: str | None = "9e4a1c7b2f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
