"""The per-user budgets of questions about people.

Hiring checks, eligibility questions, lookups by number and searches by name all spend
them: a user may ask so many of them in any minute and so many in any day (rolling
windows), whichever way they ask, so nobody walks the number space through lookups
instead of checks. The two numbers depend on the user's role (``Settings.budgets``,
``REGISTRY_LIMIT_<ROLE>_PER_MINUTE`` and ``_PER_DAY``). Over either, the answer is 429
with ``Retry-After``, the seconds until the question that fills that window leaves it;
the first refusal of a burst goes to the audit log.

What is counted lives in the database, so every worker of every app server sees the
same count: hiring checks and eligibility questions are counted from the stored checks
(``ban_checks``, which they write anyway: the hiring check, benchmarked, writes nothing
more), lookups and searches from ``limited_requests``, one small row each. One
statement counts both windows. Counting and then writing races between servers, so the
count is read in the audit chain's turn (SQLite's write lock, PostgreSQL's advisory
lock), which is held to the commit.
"""

import functools
import math
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry import clock
from registry.audit import AuditEvent, record_event, take_turn
from registry.db import Base, UTCDateTime, begin_writing, enum, intpk, utcnow
from registry.errors import RateLimited
from registry.messages import _

# What a row of limited_requests was (hiring checks and eligibility questions are in
# ban_checks).
KINDS = ("lookup", "search")

MINUTE, DAY = 60, 24 * 60 * 60

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
    # A lookup by number that found nobody (counted towards the bureau's alert).
    missed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


@functools.cache
def _statements(minute: bool, day: bool):
    # Built once per pair of budgets in force: every hiring check runs the count.
    from registry.bans.models import BanCheck

    checks, requests = BanCheck.__table__, LimitedRequest.__table__
    user_id = sa.bindparam("user_id")

    def nth(span: str):
        # The limit-th newest question in the window, if there is one: one row, whatever
        # the limit.
        since = sa.bindparam(f"{span}_since")
        times = sa.union_all(
            sa.select(checks.c.checked_at.label("at")).where(
                checks.c.user_id == user_id, checks.c.checked_at > since
            ),
            sa.select(requests.c.made_at.label("at")).where(
                requests.c.user_id == user_id, requests.c.made_at > since
            ),
        ).subquery()
        return (
            sa.select(times.c.at)
            .order_by(times.c.at.desc())
            .offset(sa.bindparam(f"{span}_offset"))
            .limit(1)
            .scalar_subquery()
        )

    absent = sa.null().cast(checks.c.checked_at.type)
    count = sa.select(
        (nth("minute") if minute else absent).label("minute"),
        (nth("day") if day else absent).label("day"),
    )
    return count, sa.insert(requests)


def _is_user(actor) -> bool:
    from registry.auth.models import User

    # The command line is the bureau's own, run on the server: not limited.
    return isinstance(actor, User)


def _budget(user) -> tuple[int, int]:
    return current_app.extensions["registry.settings"].budget(user.role)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


def over_limit(session: Session, user, *, stored: int = 0) -> tuple[int, int, int] | None:
    """None while ``user`` is within both budgets of their role; else the budget that
    refuses, as (limit, window in seconds, seconds until the user may ask again).
    ``stored``: the user's questions this transaction has stored already, counted too
    (the caller undoes them when refused). Takes the audit chain's turn, held to the end
    of the transaction."""
    if not _is_user(user):
        return None
    per_minute, per_day = _budget(user)
    take_turn(session)
    if not (per_minute or per_day):
        return None
    now = utcnow()
    row = (
        session.connection()
        .execute(
            _statements(bool(per_minute), bool(per_day))[0],
            {
                "user_id": user.id,
                "minute_since": now - timedelta(seconds=MINUTE),
                "minute_offset": max(per_minute - 1 + stored, 0),
                "day_since": now - timedelta(seconds=DAY),
                "day_offset": max(per_day - 1 + stored, 0),
            },
        )
        .one()
    )
    refusals = [
        (limit, window, math.ceil((_as_utc(nth) + timedelta(seconds=window) - now).total_seconds()))
        for limit, window, nth in ((per_minute, MINUTE, row.minute), (per_day, DAY, row.day))
        if nth is not None
    ]
    if not refusals:
        return None
    # Over both: the later of the two is when a question is taken again.
    limit, window, retry_after = max(refusals, key=lambda r: r[2])
    return limit, window, max(1, retry_after)


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
    refused = over_limit(session, user, stored=stored)
    if refused is None:
        return
    limit, window, retry_after = refused
    if stored:
        session.rollback()
        begin_writing(session)
    note_refusal(session, user, limit, window, retry_after)
    session.commit()
    if window == DAY:
        message = _(
            "more than {limit} checks, eligibility questions and lookups in a day; "
            "try again in {retry_after} s",
            limit=limit,
            retry_after=retry_after,
        )
    else:
        message = _(
            "more than {limit} checks, eligibility questions and lookups in {window} seconds; "
            "try again in {retry_after} s",
            limit=limit,
            window=window,
            retry_after=retry_after,
        )
    raise RateLimited(message, retry_after)


def missed(session: Session, user) -> int:
    """The lookup ``user`` just made (``spend``, in this transaction) found nobody: marks
    it so, and answers how many of the user's lookups missed this China day. Called in
    the turn ``spend`` took, so the user's newest lookup is this one."""
    if not _is_user(user):
        return 0
    requests = LimitedRequest.__table__
    newest = (
        sa.select(sa.func.max(requests.c.id))
        .where(requests.c.user_id == user.id, requests.c.kind == "lookup")
        .scalar_subquery()
    )
    session.execute(sa.update(requests).where(requests.c.id == newest).values(missed=True))
    day_began = datetime.combine(clock.today(), time(), clock.CHINA).astimezone(UTC)
    return session.scalar(
        sa.select(sa.func.count()).where(
            requests.c.user_id == user.id,
            requests.c.made_at >= day_began,
            requests.c.missed,
        )
    )


def spend(session: Session, user, kind: str) -> None:
    """A lookup or search by ``user``: refused over the limit (``admit``), else counted."""
    if not _is_user(user):
        return
    admit(session, user)
    session.connection().execute(
        _statements(True, True)[1], {"user_id": user.id, "kind": kind, "made_at": utcnow()}
    )
