from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, day, enum, intpk, str200, timestamp
from registry.vocabulary import CLASS_TYPES, STAFF_ROLES


class Institution(Base):
    """A registered infant-care institution (托育机构)."""

    __tablename__ = "institutions"

    id: Mapped[intpk]
    # 统一社会信用代码 (GB 32100-2015), validated and normalised before it gets here.
    code: Mapped[str] = mapped_column(sa.String(18), unique=True)
    name: Mapped[str200]
    district: Mapped[str] = mapped_column(sa.String(100), index=True)
    meals_on_site: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]

    classes: Mapped[list["InstitutionClass"]] = relationship(
        back_populates="institution", cascade="all, delete-orphan", order_by="InstitutionClass.id"
    )


class InstitutionClass(Base):
    """A class (班) and how many children it has enrolled."""

    __tablename__ = "institution_classes"
    __table_args__ = (sa.CheckConstraint("children >= 0", name="children_not_negative"),)

    id: Mapped[intpk]
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    type: Mapped[str] = mapped_column(enum(*CLASS_TYPES, name="class_type"))
    children: Mapped[int]

    institution: Mapped[Institution] = relationship(back_populates="classes")


class Employment(Base):
    """A person in post at an institution in one role, from ``start`` to ``end``."""

    __tablename__ = "employments"
    __table_args__ = (
        sa.CheckConstraint('"end" IS NULL OR "end" >= start', name="end_after_start"),
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
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[created_at]

    institution: Mapped[Institution] = relationship()
