import secrets
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import (
    Base,
    EncryptedIdentity,
    blind_index,
    ciphertext,
    created_at,
    day,
    enum,
    index_where_set,
    intpk,
    str64,
    str200,
    timestamp,
)
from registry.vocabulary import EDUCATION_LEVELS, EXPERIENCE_FIELDS

# 16 random bytes (128 bits) in lower-case hexadecimal: made in Python for a row at a
# time, in SQL for the rows a roll import inserts from a select.
PUBLIC_ID_LENGTH = 32
PUBLIC_ID_PATTERN = "[0-9a-f]{32}"


def new_public_id() -> str:
    return secrets.token_hex(16)


def new_public_id_sql(dialect: str) -> sa.ColumnElement[str]:
    """A fresh public id per row, made by the database from its strong random source."""
    if dialect == "sqlite":
        return sa.func.lower(sa.func.hex(sa.func.randomblob(16)))
    # PostgreSQL 13+ without extensions: two random UUIDs (244 random bits) hashed.
    uuid = sa.cast(sa.func.gen_random_uuid(), sa.Text)
    return sa.func.md5(uuid.concat(sa.cast(sa.func.gen_random_uuid(), sa.Text)))


class Person(EncryptedIdentity, Base):
    """Somebody who works, or may work, with children under 3.

    The identity number and the name are stored only encrypted; lookups go through the
    keyed blind index of the normalised number (``registry.crypto``), searches by name
    through the keyed index of the normalised name (``registry.people.names``). A record
    merged into another (a wrong number) keeps its row, marked by ``merged_into_id``.
    """

    __tablename__ = "people"
    __table_args__ = (index_where_set("people", "merged_into_id"),)

    id: Mapped[intpk]
    # How a person is addressed in every URL, API body and export: 128 random bits in
    # hexadecimal. The integer id stays inside the database, so nobody counts through it.
    public_id: Mapped[str] = mapped_column(
        sa.String(PUBLIC_ID_LENGTH), unique=True, default=new_public_id
    )
    id_index: Mapped[blind_index] = mapped_column(unique=True)
    education: Mapped[str | None] = mapped_column(enum(*EDUCATION_LEVELS, name="education_level"))
    major: Mapped[str200 | None]
    # Empty only for rows written before name search existed, until `registry people
    # reindex-names` (or `registry init`, or a key rotation) fills them.
    name_index: Mapped[bytes | None] = mapped_column(sa.LargeBinary(32), index=True)
    name_index_kid: Mapped[str | None] = mapped_column(sa.String(40))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))
    # The roll import that registered the person; hidden while that import is still
    # being written (``registry.imports.merge``).
    import_batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id"), index=True
    )
    created_at: Mapped[created_at]
    updated_at: Mapped[timestamp | None]

    experience: Mapped[list["Experience"]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Experience.start"
    )
    merged_into: Mapped["Person | None"] = relationship(remote_side="Person.id")


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


class PersonChange(Base):
    """One entry of a person's history: a correction or a merge, why, by whom, and the
    values before it. ``changes`` holds the fields that are not personal (education,
    major, experience periods, merge counts); the name before it is kept encrypted."""

    __tablename__ = "person_history"
    __table_args__ = (index_where_set("person_history", "other_person_id"),)

    id: Mapped[intpk]
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("people.id"), index=True)
    action: Mapped[str] = mapped_column(
        enum("corrected", "merged", "merged_into", name="person_action")
    )
    reason: Mapped[str] = mapped_column(sa.String(500))
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The name before a correction of it, encrypted like the person's (same context).
    previous_name_enc: Mapped[ciphertext | None]
    # The other record of a merge.
    other_person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people.id"))
    actor: Mapped[str64]
    changed_at: Mapped[timestamp]
