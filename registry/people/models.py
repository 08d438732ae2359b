from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
from registry.vocabulary import EDUCATION_LEVELS, EXPERIENCE_FIELDS


class Person(EncryptedIdentity, Base):
    """Somebody who works, or may work, with children under 3.

    The identity number and the name are stored only encrypted; lookups go through the
    keyed blind index of the normalised number (``registry.crypto``).
    """

    __tablename__ = "people"

    id: Mapped[intpk]
    id_index: Mapped[blind_index] = mapped_column(unique=True)
    education: Mapped[str | None] = mapped_column(enum(*EDUCATION_LEVELS, name="education_level"))
    major: Mapped[str200 | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[timestamp | None]

    experience: Mapped[list["Experience"]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Experience.start"
    )


class Experience(Base):
    """A period of work: field, organisation, whether it was a management post."""

    __tablename__ = "experience"
    __table_args__ = (
        sa.CheckConstraint('"end" IS NULL OR "end" >= start', name="end_after_start"),
    )

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    field: Mapped[str] = mapped_column(enum(*EXPERIENCE_FIELDS, name="experience_field"))
    organization: Mapped[str200]
    management: Mapped[bool] = mapped_column(default=False)
    start: Mapped[day]
    end: Mapped[date | None]

    person: Mapped[Person] = relationship(back_populates="experience")
