"""pages-director: the masked number of a hiring check, to print its receipt again

Revision ID: 5c1e2d7a9b40
Revises: ec3757216a11
Create Date: 2026-11-28 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e2d7a9b40"
down_revision: str | None = "ec3757216a11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ban_checks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_masked", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ban_checks", schema=None) as batch_op:
        batch_op.drop_column("id_number_masked")
