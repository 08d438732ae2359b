import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, enum, intpk, str200
from registry.vocabulary import CLASS_TYPES


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
