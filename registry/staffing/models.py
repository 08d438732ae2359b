from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, day, enum, intpk, timestamp
from registry.institutions.models import Institution
from registry.people.models import Person
from registry.vocabulary import STAFF_ROLES


class Employment(Base):
    """A person in post at an institution in one role, from ``start`` to ``end``."""

    __tablename__ = "employments"
    __table_args__ = (
        sa.CheckConstraint('"end" IS NULL OR "end" >= start', name="end_after_start"),
        # One open employment per person, institution and role: the service checks
        # first and names the existing one; this stops two hires racing past the check.
        sa.Index(
            "uq_employments_open",
            "person_id",
            "institution_id",
            "role",
            unique=True,
            sqlite_where=sa.text('"end" IS NULL'),
            postgresql_where=sa.text('"end" IS NULL'),
        ),
    )

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    role: Mapped[str] = mapped_column(enum(*STAFF_ROLES, name="staff_role"))
    full_time: Mapped[bool] = mapped_column(default=True)
    start: Mapped[day]
    end: Mapped[date | None]
    # The institution's statement, made when hiring, that the person has full civil
    # capacity and no criminal record barring the work (未成年人保护法 art. 62).
    declaration_at: Mapped[timestamp]
    declared_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # A security guard is dispatched by a security company (保安服务公司), recorded with
    # its 保安服务许可证 number; the `dispatch` rule asks for both when hiring one.
    dispatch_company: Mapped[str | None] = mapped_column(sa.String(200))
    dispatch_licence: Mapped[str | None] = mapped_column(sa.String(64))
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[created_at]

    institution: Mapped[Institution] = relationship()
    person: Mapped[Person] = relationship()

    @classmethod
    def in_post_on(cls, day: date):
        """The condition "in post on ``day``": started, and not ended before it."""
        return sa.and_(cls.start <= day, sa.or_(cls.end.is_(None), cls.end >= day))
