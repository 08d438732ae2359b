import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, created_at, enum, intpk, timestamp
from registry.vocabulary import ALERT_KINDS


class Alert(Base):
    """Something about a current employee that the employer and the bureau must act on:
    a ban on the person (``ban``), a certificate of the person revoked
    (``certificate_revoked``) or about to expire (``certificate_expiring``).

    The message is made when the alert is read, from the rows it points at: the name is
    stored only encrypted, and never in an alert.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'ban' AND ban_id IS NOT NULL) "
            "OR (kind <> 'ban' AND certificate_id IS NOT NULL)",
            name="subject_of_kind",
        ),
        # A certificate's alert of a kind is raised once per institution; a sweep run
        # twice, or by two servers at once, adds nothing.
        sa.UniqueConstraint("kind", "certificate_id", "institution_id"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(enum(*ALERT_KINDS, name="alert_kind"), default="ban")
    ban_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bans.id"), index=True)
    certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    employment_id: Mapped[int] = mapped_column(sa.ForeignKey("employments.id"))
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    raised_at: Mapped[created_at]
    acknowledged_at: Mapped[timestamp | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
