from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, UTCDateTime, created_at, enum, intpk, str64, str200, timestamp
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
    # Set when someone else chose the password (an account made or reset by an
    # administrator): the first sign-in must replace it.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
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


# Who signs in or sends a token before anybody is known.
ANONYMOUS = SystemActor("anonymous")

# The actor of every service call: a signed-in user or token, or a system actor.
Actor = User | SystemActor


class ApiToken(Base):
    """An API token, kept only as its SHA-256 digest (``registry.crypto.token_digest``)."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    created_at: Mapped[created_at]
    expires_at: Mapped[timestamp]
    # Updated at most once a minute (``TOUCH_INTERVAL``), after the request's answer.
    last_used_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; the table only its HMAC under
    the blind-index key (``Keyring.session_digest``), so a database dump signs nobody in.
    Ending a session (logout, a disabled user, a new password) is setting ``ended_at``."""

    __tablename__ = "web_sessions"

    id: Mapped[intpk]
    digest: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
    expires_at: Mapped[timestamp]
    ended_at: Mapped[timestamp | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))

    user: Mapped[User] = relationship()


class SignInFailure(Base):
    """A failed sign-in, counted per username and per client address by the throttle.
    In the database so that every server worker counts the same failures."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        sa.Index(None, "username", "occurred_at"),
        sa.Index(None, "address", "occurred_at"),
    )

    id: Mapped[intpk]
    # As typed, lower-cased: unknown usernames are counted as known ones are.
    username: Mapped[str200]
    address: Mapped[str64]
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
