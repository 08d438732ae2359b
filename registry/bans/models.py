from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import (
    Base,
    EncryptedIdentity,
    blind_index,
    created_at,
    day,
    enum,
    intpk,
    str200,
    timestamp,
)
from registry.vocabulary import BAN_CATEGORIES, BAN_STATUSES, CHECK_RESULTS


class Ban(EncryptedIdentity, Base):
    """A bar from working with children (终身禁入 when ``until`` is empty).

    Found only by the keyed blind index of the normalised identity number; the number
    and name are kept encrypted for authorised bureau staff. A revocation keeps the row.
    """

    __tablename__ = "bans"
    __table_args__ = (
        sa.CheckConstraint("until IS NULL OR until >= effective_on", name="until_after_effective"),
    )

    id: Mapped[intpk]
    id_index: Mapped[blind_index] = mapped_column(index=True)
    category: Mapped[str] = mapped_column(enum(*BAN_CATEGORIES, name="ban_category"))
    authority: Mapped[str200]
    decision_no: Mapped[str200]
    effective_on: Mapped[day]
    until: Mapped[date | None]
    status: Mapped[str] = mapped_column(enum(*BAN_STATUSES, name="ban_status"), default="active")
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoked_at: Mapped[timestamp | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoked_reason: Mapped[str200 | None]


class BanCheck(Base):
    """One hiring check: who asked, for which institution, why, and the answer.

    Holds the blind index of the number asked about, never the number.
    """

    __tablename__ = "ban_checks"
    __table_args__ = (sa.Index(None, "user_id", "checked_at"),)

    id: Mapped[intpk]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    id_index: Mapped[blind_index] = mapped_column(index=True)
    id_index_kid: Mapped[str] = mapped_column(sa.String(40))
    purpose: Mapped[str200 | None]
    result: Mapped[str] = mapped_column(enum(*CHECK_RESULTS, name="check_result"))
    ban_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bans.id"))
    checked_at: Mapped[timestamp]
    # The number masked as on the receipt (first 3 and last 4), so that the receipt of a
    # check can be printed again later; never the number itself.
    id_number_masked: Mapped[str | None] = mapped_column(sa.String(32))
