"""lists: alerts carry their kind; a certificate can be their subject

Existing alerts were all raised by bans: they become kind ``ban``.

Revision ID: adb7fc032920
Revises: 76bf16007ce4
Create Date: 2026-11-28 06:33:25.025477
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "adb7fc032920"
down_revision: str | None = "76bf16007ce4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = sa.Enum(
    "ban",
    "certificate_revoked",
    "certificate_expiring",
    name="alert_kind",
    native_enum=False,
    create_constraint=True,
    length=20,
)


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", KIND, nullable=False, server_default="ban"))
        batch_op.add_column(sa.Column("certificate_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        # The default only filled the rows there were; the registry always names the kind.
        batch_op.alter_column("kind", existing_type=KIND, server_default=None)
        batch_op.alter_column("ban_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_alerts_kind_certificate_id_institution_id"),
            ["kind", "certificate_id", "institution_id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_certificate_id_certificates"),
            "certificates",
            ["certificate_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_alerts_subject_of_kind"),
            "(kind = 'ban' AND ban_id IS NOT NULL) "
            "OR (kind <> 'ban' AND certificate_id IS NOT NULL)",
        )


def downgrade() -> None:
    # Before this revision an alert could only be a ban's: the others cannot be kept.
    op.execute("DELETE FROM alerts WHERE kind <> 'ban'")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_alerts_subject_of_kind"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_alerts_alert_kind"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_certificate_id_certificates"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("uq_alerts_kind_certificate_id_institution_id"), type_="unique"
        )
        batch_op.alter_column("ban_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("certificate_id")
        batch_op.drop_column("kind")
