"""people name index, history, merges and the limited requests

People get the keyed index of their name (for the bureau's search by name), a history of
corrections and merges, and the mark of a record merged into another; lookups and name
searches count in limited_requests against the same per-user budget as hiring checks.

A migration cannot reach the keys, so the name indexes of existing people stay empty
here: `registry init` (which runs this migration) fills them right after, and `registry
people reindex-names` does it on its own.

Revision ID: d63b5c1b9c2d
Revises: 7f79c5c2ab4f
Create Date: 2026-11-28 06:33:27.059872
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d63b5c1b9c2d"
down_revision: str | None = "7f79c5c2ab4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "corrected",
                "merged",
                "merged_into",
                name="person_action",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("previous_name_enc", sa.LargeBinary(), nullable=True),
        sa.Column("other_person_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["other_person_id"],
            ["people.id"],
            name=op.f("fk_person_history_other_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_history_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_history")),
    )
    with op.batch_alter_table("person_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_history_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "limited_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "lookup", "search", name="limited_kind", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_limited_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limited_requests")),
    )
    with op.batch_alter_table("limited_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_limited_requests_user_id_made_at"), ["user_id", "made_at"], unique=False
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_index", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("name_index_kid", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_people_name_index"), ["name_index"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_people_merged_into_id_people"), "people", ["merged_into_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_people_merged_into_id_people"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_people_name_index"))
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("name_index_kid")
        batch_op.drop_column("name_index")

    with op.batch_alter_table("limited_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limited_requests_user_id_made_at"))

    op.drop_table("limited_requests")
    with op.batch_alter_table("person_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_history_person_id"))

    op.drop_table("person_history")
