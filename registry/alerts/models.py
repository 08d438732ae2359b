from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, created_at, enum, index_where_set, intpk, timestamp
from registry.vocabulary import ALERT_KINDS


class Alert(Base):
    """Something about a current employee that the employer and the bureau must act on:
    a ban on the person (``ban``), a certificate of the person revoked
    (``certificate_revoked``) or about to expire (``certificate_expiring``); or, for the
    bureau only, a user whose lookups by number found nobody too often in a China day
    (``lookup_misses``: the user, the day and the count, no employment, no institution).

    The message is made when the alert is read, from the rows it points at: the name is
    stored only encrypted, and never in an alert.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'ban' AND ban_id IS NOT NULL AND employment_id IS NOT NULL) "
            "OR (kind = 'lookup_misses' AND user_id IS NOT NULL AND day IS NOT NULL) "
            "OR (kind NOT IN ('ban', 'lookup_misses') AND certificate_id IS NOT NULL "
            "AND employment_id IS NOT NULL)",
            name="subject_of_kind",
        ),
        # A user's lookups that missed raise one alert a day, whichever server counts.
        sa.UniqueConstraint("kind", "user_id", "day"),
        # A certificate's alert of a kind is raised once per institution; a sweep run
        # twice, or by two servers at once, adds nothing.
        sa.UniqueConstraint("kind", "certificate_id", "institution_id"),
        # The bureau's list, those not yet acknowledged first and newest first, reads a
        # page from the newest end of one of these two, not the whole table sorted.
        sa.Index(
            "ix_alerts_unacknowledged_newest",
            "raised_at",
            "id",
            sqlite_where=sa.text("acknowledged_at IS NULL"),
            postgresql_where=sa.text("acknowledged_at IS NULL"),
        ),
        sa.Index(
            "ix_alerts_acknowledged_newest",
            "raised_at",
            "id",
            sqlite_where=sa.text("acknowledged_at IS NOT NULL"),
            postgresql_where=sa.text("acknowledged_at IS NOT NULL"),
        ),
        index_where_set("alerts", "certificate_id"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(enum(*ALERT_KINDS, name="alert_kind"), default="ban")
    ban_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bans.id"), index=True)
    certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    employment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("employments.id"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    # lookup_misses: whose lookups, on which China day, how many missed (so far).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    day: Mapped[date | None]
    misses: Mapped[int | None]
    raised_at: Mapped[created_at]
    acknowledged_at: Mapped[timestamp | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
