"""oracle: people get a random public id; lookups that miss are counted and alerted

People are addressed by ``public_id`` (128 random bits, 32 hexadecimal characters) in
every URL and API body; existing rows get one each. ``limited_requests.missed`` marks a
lookup by number that found nobody. Alerts of kind ``lookup_misses`` name a user and a
day instead of an employment.

Revision ID: 9e4a1c7b2f60
Revises: 9e4b1c7d2a60
Create Date: 2026-11-28 09:30:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4a1c7b2f60"
down_revision: str | None = "9e4b1c7d2a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("ban", "certificate_revoked", "certificate_expiring")
SUBJECT = "(kind = 'ban' AND ban_id IS NOT NULL) OR (kind <> 'ban' AND certificate_id IS NOT NULL)"
NEW_SUBJECT = (
    "(kind = 'ban' AND ban_id IS NOT NULL AND employment_id IS NOT NULL) "
    "OR (kind = 'lookup_misses' AND user_id IS NOT NULL AND day IS NOT NULL) "
    "OR (kind NOT IN ('ban', 'lookup_misses') AND certificate_id IS NOT NULL "
    "AND employment_id IS NOT NULL)"
)


def _kinds(*kinds: str) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    people = sa.table("people", sa.column("id", sa.Integer), sa.column("public_id", sa.String))
    connection = op.get_bind()
    ids = connection.execute(sa.select(people.c.id)).scalars().all()
    for person_id in ids:
        connection.execute(
            people.update().where(people.c.id == person_id).values(public_id=secrets.token_hex(16))
        )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_people_public_id"), ["public_id"])

    with op.batch_alter_table("limited_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("missed", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("misses", sa.Integer(), nullable=True))
        batch_op.alter_column("employment_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("institution_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_user_id_users"), "users", ["user_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_alerts_kind_user_id_day"), ["kind", "user_id", "day"]
        )
        batch_op.drop_constraint(batch_op.f("ck_alerts_subject_of_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_alerts_alert_kind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_alerts_alert_kind"), _kinds(*KINDS, "lookup_misses")
        )
        batch_op.create_check_constraint(batch_op.f("ck_alerts_subject_of_kind"), NEW_SUBJECT)


def downgrade() -> None:
    # Before this revision an alert always named an employment: the others cannot be kept.
    op.execute("DELETE FROM alerts WHERE kind = 'lookup_misses'")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_alerts_subject_of_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_alerts_alert_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_alerts_kind_user_id_day"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_alerts_user_id_users"), type_="foreignkey")
        batch_op.alter_column("institution_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("employment_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("misses")
        batch_op.drop_column("day")
        batch_op.drop_column("user_id")
        batch_op.create_check_constraint(batch_op.f("ck_alerts_alert_kind"), _kinds(*KINDS))
        batch_op.create_check_constraint(batch_op.f("ck_alerts_subject_of_kind"), SUBJECT)

    with op.batch_alter_table("limited_requests", schema=None) as batch_op:
        batch_op.drop_column("missed")

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_people_public_id"), type_="unique")
        batch_op.drop_column("public_id")
