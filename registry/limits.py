"""The one per-user budget of questions about people.

Hiring checks, eligibility questions, lookups by number and searches by name all spend
it: a user may ask ``REGISTRY_CHECK_LIMIT`` of them in any ``REGISTRY_CHECK_WINDOW``
seconds, whichever way they ask, so nobody walks the number space through lookups
instead of checks. Over the limit the answer is 429 with ``Retry-After``; the first
refusal of a burst goes to the audit log.

What is counted lives in the database, so every worker of every app server sees the
same count: hiring checks and eligibility questions are counted from the stored checks
(``ban_checks``, which they write anyway: the hiring check, benchmarked, writes nothing
more), lookups and searches from ``limited_requests``, one small row each. One
statement counts both. Counting and then writing races between servers, so the count is
read in the audit chain's turn (SQLite's write lock, PostgreSQL's advisory lock), which
is held to the commit.
"""

import functools
import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.audit import AuditEvent, record_event, take_turn
from registry.db import Base, UTCDateTime, begin_writing, enum, intpk, utcnow
from registry.errors import RateLimited
from registry.messages import _

# What a row of limited_requests was (hiring checks and eligibility questions are in
# ban_checks).
KINDS = ("lookup", "search")

# The audit action of a refusal (its name predates lookups and searches counting too).
REFUSED = "ban_check.rate_limited"


class LimitedRequest(Base):
    """A lookup or search that spent its user's budget: who, what, when; nothing else."""

    __tablename__ = "limited_requests"
    __table_args__ = (sa.Index(None, "user_id", "made_at"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(enum(*KINDS, name="limited_kind"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())


@functools.cache
def _statements():
    # Built once: every hiring check runs the count.
    from registry.bans.models import BanCheck

    checks, requests = BanCheck.__table__, LimitedRequest.__table__
    user_id, since = sa.bindparam("user_id"), sa.bindparam("since")
    times = sa.union_all(
        sa.select(checks.c.checked_at.label("at")).where(
            checks.c.user_id == user_id, checks.c.checked_at > since
        ),
        sa.select(requests.c.made_at.label("at")).where(
            requests.c.user_id == user_id, requests.c.made_at > since
        ),
    ).subquery()
    # The limit-th newest question in the window, if there is one: one row, whatever
    # the limit.
    nth = sa.select(times.c.at).order_by(times.c.at.desc()).offset(sa.bindparam("offset")).limit(1)
    return nth, sa.insert(requests)


def _is_user(actor) -> bool:
    from registry.auth.models import User

    # The command line is the bureau's own, run on the server: not limited.
    return isinstance(actor, User)


def _settings():
    settings = current_app.extensions["registry.settings"]
    return settings.check_limit, settings.check_window


def over_limit(session: Session, user, limit: int, window: int, *, stored: int = 0) -> int | None:
    """Seconds until ``user`` may ask again, or None while under ``limit`` questions in
    any ``window`` seconds. ``stored``: the user's questions this transaction has stored
    already, counted too (the caller undoes them when refused). Takes the audit chain's
    turn, held to the end of the transaction."""
    if not _is_user(user):
        return None
    take_turn(session)
    now = utcnow()
    nth = (
        session.connection()
        .execute(
            _statements()[0],
            {
                "user_id": user.id,
                "since": now - timedelta(seconds=window),
                "offset": limit - 1 + stored,
            },
        )
        .scalar()
    )
    if nth is None:
        return None
    return max(1, math.ceil((nth + timedelta(seconds=window) - now).total_seconds()))


def note_refusal(session: Session, user, limit: int, window: int, retry_after: int) -> None:
    """The first refusal of a burst over the limit goes to the audit log."""
    already = session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.action == REFUSED,
            AuditEvent.subject == f"user:{user.id}",
            AuditEvent.occurred_at > utcnow() - timedelta(seconds=window),
        )
    )
    if already is None:
        record_event(
            session,
            user,
            REFUSED,
            f"user:{user.id}",
            {"limit": limit, "window": window, "retry_after": retry_after},
        )


def admit(session: Session, user, *, stored: int = 0) -> None:
    """Refuse ``user`` over the limit with 429 and ``Retry-After``. The refusal is
    committed first: a burst over the limit is itself in the audit log.

    ``stored``: checks this transaction has stored already. They are counted, and on a
    refusal rolled back: a hiring check stores itself before it takes its turn to
    count, so that fewer statements run while the other checks wait for that turn.
    """
    limit, window = _settings()
    retry_after = over_limit(session, user, limit, window, stored=stored)
    if retry_after is None:
        return
    if stored:
        session.rollback()
        begin_writing(session)
    note_refusal(session, user, limit, window, retry_after)
    session.commit()
    raise RateLimited(
        _(
            "more than {limit} checks, eligibility questions and lookups in {window} seconds; "
            "try again in {retry_after} s",
            limit=limit,
            window=window,
            retry_after=retry_after,
        ),
        retry_after,
    )


def spend(session: Session, user, kind: str) -> None:
    """A lookup or search by ``user``: refused over the limit (``admit``), else counted."""
    if not _is_user(user):
        return
    admit(session, user)
    session.connection().execute(
        _statements()[1], {"user_id": user.id, "kind": kind, "made_at": utcnow()}
    )
