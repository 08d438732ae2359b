"""rolls: a roll's merge is written in chunks, hidden until its batch is finished; people
know the import that registered them, and a batch the host, process and heartbeat of its
merge; an interrupted merge's batch is marked so

Revision ID: b5d2e8f41a07
Revises: 4d8e2b6a1c93
Create Date: 2026-11-28 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5d2e8f41a07"
down_revision: str | None = "4d8e2b6a1c93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("running", "accepted", "partial", "rejected")
RUNNING = "status = 'running'"


def _status(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="import_status", native_enum=False, create_constraint=True)


def upgrade() -> None:
    with op.batch_alter_table("import_batches") as batch:
        batch.add_column(sa.Column("host", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("beat_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column(
            "status",
            existing_type=_status(*STATUSES),
            type_=_status(*STATUSES, "interrupted"),
            existing_nullable=False,
        )
    op.create_index(
        "ix_import_batches_running",
        "import_batches",
        ["status"],
        unique=False,
        sqlite_where=sa.text(RUNNING),
        postgresql_where=sa.text(RUNNING),
    )
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("import_batch_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_people_import_batch_id_import_batches",
            "import_batches",
            ["import_batch_id"],
            ["id"],
        )
        batch.create_index("ix_people_import_batch_id", ["import_batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_index("ix_people_import_batch_id")
        batch.drop_constraint("fk_people_import_batch_id_import_batches", type_="foreignkey")
        batch.drop_column("import_batch_id")
    op.drop_index("ix_import_batches_running", table_name="import_batches")
    op.execute("UPDATE import_batches SET status = 'rejected' WHERE status = 'interrupted'")
    with op.batch_alter_table("import_batches") as batch:
        batch.alter_column(
            "status",
            existing_type=_status(*STATUSES, "interrupted"),
            type_=_status(*STATUSES),
            existing_nullable=False,
        )
        batch.drop_column("beat_at")
        batch.drop_column("pid")
        batch.drop_column("host")
