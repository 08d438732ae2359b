from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, created_at, enum, intpk, str64, str200, timestamp
from registry.institutions.models import Institution
from registry.vocabulary import USER_ROLES


class User(Base):
    """A person or program allowed in: a role, and for a director, the one institution."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'director') = (institution_id IS NOT NULL)", name="director_has_institution"
        ),
    )

    id: Mapped[intpk]
    username: Mapped[str64] = mapped_column(unique=True)
    password_hash: Mapped[str200]
    role: Mapped[str] = mapped_column(enum(*USER_ROLES, name="user_role"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]

    institution: Mapped[Institution | None] = relationship()


@dataclass(frozen=True)
class SystemActor:
    """Who acts when no user does: the operating-system account behind a CLI command, or
    a named job. It carries what services read of a user, and belongs to no role that
    a request can have."""

    username: str
    id: None = None
    role: str = "system"
    institution_id: None = None
    institution: None = None


# The actor of every service call: a signed-in user or token, or a system actor.
Actor = User | SystemActor


class ApiToken(Base):
    """An API token, kept only as its SHA-256 digest (``registry.crypto.token_digest``)."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    created_at: Mapped[created_at]
    revoked_at: Mapped[timestamp | None]

    user: Mapped[User] = relationship()
