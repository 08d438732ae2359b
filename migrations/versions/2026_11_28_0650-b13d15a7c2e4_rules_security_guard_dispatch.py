"""rules: a security guard's dispatching company and its licence on the employment

Revision ID: b13d15a7c2e4
Revises: d63b5c1b9c2d
Create Date: 2026-11-28 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b13d15a7c2e4"
down_revision: str | None = "d63b5c1b9c2d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatch_company", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("dispatch_licence", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.drop_column("dispatch_licence")
        batch_op.drop_column("dispatch_company")
