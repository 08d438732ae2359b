"""rolls: a roll's merge is written in chunks, hidden until its batch is finished; people
know the import that registered them, and a batch the host, process, heartbeat and owner
of its writing; a preview's or refused file's batch is recording while its errors are
written, an interrupted one is marked so; the foreign keys to people and certificates
that had no index get one

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
NEW_STATUSES = ("running", "recording", "accepted", "partial", "rejected", "interrupted")
RUNNING = "status = 'running'"
# Foreign keys to people and certificates that had no index: deleting an interrupted
# merge's rows checks each of them, and scanned the whole table per row deleted.
REFERENCES = (
    ("people", "merged_into_id"),
    ("person_history", "other_person_id"),
    ("certificates", "replaces_id"),
    ("alerts", "certificate_id"),
)


def _status(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="import_status", native_enum=False, create_constraint=True)


def upgrade() -> None:
    with op.batch_alter_table("import_batches") as batch:
        batch.add_column(sa.Column("host", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("beat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
        batch.alter_column(
            "status",
            existing_type=_status(*STATUSES),
            type_=_status(*NEW_STATUSES),
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
    for table, column in REFERENCES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_{table}_{column}",
            table,
            [column],
            unique=False,
            sqlite_where=where,
            postgresql_where=where,
        )


def downgrade() -> None:
    running = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM import_batches WHERE status = 'running'")
    )
    if running:
        # Their hidden rows would be seen once people forget their batch.
        raise RuntimeError("a roll's merge is being written: let it finish, then downgrade")
    for table, column in REFERENCES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    with op.batch_alter_table("people") as batch:
        batch.drop_index("ix_people_import_batch_id")
        batch.drop_constraint("fk_people_import_batch_id_import_batches", type_="foreignkey")
        batch.drop_column("import_batch_id")
    op.drop_index("ix_import_batches_running", table_name="import_batches")
    op.execute(
        "UPDATE import_batches SET status = 'rejected' WHERE status IN ('interrupted', 'recording')"
    )
    with op.batch_alter_table("import_batches") as batch:
        batch.alter_column(
            "status",
            existing_type=_status(*NEW_STATUSES),
            type_=_status(*STATUSES),
            existing_nullable=False,
        )
        batch.drop_column("owner")
        batch.drop_column("beat_at")
        batch.drop_column("pid")
        batch.drop_column("host")
