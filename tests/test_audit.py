"""The audit log is a hash chain: tampering with any row, as someone with access to the
database would, is found by `registry audit verify`, which names the first broken event."""

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy.orm import Session

from cli import main
from migrations import alembic_config
from registry.audit import (
    EMPTY_ANCHOR,
    GENESIS,
    AuditEvent,
    canonical_form,
    record_event,
    take_turn,
    verify_chain,
)
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.clock import CHINA
from registry.db import UTCDateTime, get_session, make_engine
from registry.identity import uscc_check_char

WRITERS = 8
CHAINED = "7f79c5c2ab4f"  # the migration that chains the events already recorded


@pytest.fixture
def events(session):
    """Records four events and returns their ids, in order."""
    recorded = [
        record_event(
            session, SystemActor("test"), "thing.created", f"thing:{n}", {"n": n, "名": "园"}
        )
        for n in range(4)
    ]
    return [event.id for event in recorded]


def _tamper(session, sql: str, **params):
    """Changes rows behind the registry's back, with SQL on its connection."""
    statement = sa.text(sql).bindparams(
        *(
            sa.bindparam(name, type_=type_)
            for name, type_ in (("data", sa.JSON()), ("at", UTCDateTime()))
            if name in params
        )
    )
    session.execute(statement, params)


def test_canonical_form_is_fixed():
    # Changing this encoding would make every recorded chain look broken.
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    data = {"z": [1, 0.5], "a": "西湖区"}
    assert (
        canonical_form(at, "admin", "x.done", "x:1", data, GENESIS)
        == (
            '{"action":"x.done","actor":"admin","data":{"a":"西湖区","z":[1,0.5]},'
            f'"occurred_at":"2026-01-02T03:04:05.000006Z","prev_hash":"{"0" * 64}",'
            '"subject":"x:1"}'
        ).encode()
    )
    # The same instant in another zone, or naive as SQLite gives it back, is the same.
    east = at.astimezone(CHINA)  # not the machine's zone, which may well be UTC
    naive = at.replace(tzinfo=None)
    assert canonical_form(east, "admin", "x.done", "x:1", data, GENESIS) == canonical_form(
        naive, "admin", "x.done", "x:1", data, GENESIS
    )


def test_events_chain_within_and_across_transactions(session):
    first = record_event(session, SystemActor("test"), "a.done", "a:1")
    with session.no_autoflush:  # the second still sees the first
        second = record_event(session, SystemActor("test"), "b.done", "b:1", {"k": 1})
    session.commit()
    third = record_event(session, SystemActor("test"), "c.done", "c:1")
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    head = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id).limit(1))
    assert head.prev_hash == GENESIS
    assert verify_chain(session) == (session.scalar(sa.select(sa.func.count(AuditEvent.id))), None)


def test_what_is_hashed_is_what_the_database_gives_back(session):
    data = {
        "floats": [0.1, 1.0, 1e20, -0.0, 2.5e-8],
        "big": 2**63 + 1,
        "text": '王芳 🧸 "quoted" \\ \n',
        "nested": {"b": {"y": 1, "x": 2}, "a": None, "t": True},
        "tuple": (1, 2),
        3: "int key",
    }
    event = record_event(session, SystemActor("张三"), "odd.data", "odd:1", data)
    assert event.data["tuple"] == [1, 2] and event.data["3"] == "int key"
    session.expire_all()
    assert verify_chain(session)[1] is None


def test_nan_is_refused(session):
    with pytest.raises(ValueError):
        record_event(session, SystemActor("test"), "odd.data", "odd:1", {"x": float("nan")})


@pytest.fixture
def verify(run, tmp_path):
    """`registry audit verify` with an anchor file of this test's own, started before the
    first event as `registry init` starts it."""
    anchor = tmp_path / "audit-anchor.json"
    EMPTY_ANCHOR.write(anchor)
    return lambda *more: run("audit", "verify", "--anchor", str(anchor), *more)


def test_verify_says_the_chain_is_intact(verify, session, events):
    count = session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    result = verify()
    assert result.exit_code == 0, result.output
    assert result.output == f"审计链完好：共 {count} 条事件（audit chain intact: {count} events）\n"


def test_verify_walks_in_batches(session, events):
    count = session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    assert verify_chain(session, batch_size=1) == (count, None)
    _tamper(session, "UPDATE audit_events SET actor = 'mallory' WHERE id = :id", id=events[3])
    intact, problem = verify_chain(session, batch_size=2)
    assert problem.event_id == events[3] and intact == count - 1


def _swap_contents(session, a: int, b: int, columns: tuple[str, ...]) -> None:
    table = AuditEvent.__table__
    rows = {
        row.id: row for row in session.execute(sa.select(table).where(table.c.id.in_([a, b]))).all()
    }
    if "prev_hash" in columns:  # the database refuses two events following the same one
        session.execute(sa.update(table).where(table.c.id.in_([a, b])).values(prev_hash=None))
    for this, other in ((a, b), (b, a)):
        values = {column: getattr(rows[other], column) for column in columns}
        session.execute(sa.update(table).where(table.c.id == this).values(**values))


TAMPERING = {
    "edit data": (
        lambda s, ids: _tamper(
            s, "UPDATE audit_events SET data = :data WHERE id = :id", id=ids[1], data={"n": 9}
        ),
        1,
        "content changed",
    ),
    "edit actor": (
        lambda s, ids: _tamper(
            s, "UPDATE audit_events SET actor = 'mallory' WHERE id = :id", id=ids[2]
        ),
        2,
        "content changed",
    ),
    "edit occurred_at": (
        lambda s, ids: _tamper(
            s,
            "UPDATE audit_events SET occurred_at = :at WHERE id = :id",
            id=ids[1],
            at=datetime(2020, 1, 2, tzinfo=UTC),
        ),
        1,
        "content changed",
    ),
    "edit hash": (
        lambda s, ids: _tamper(
            s, "UPDATE audit_events SET hash = prev_hash WHERE id = :id", id=ids[2]
        ),
        2,
        "content changed",
    ),
    "delete a middle row": (
        lambda s, ids: _tamper(s, "DELETE FROM audit_events WHERE id = :id", id=ids[1]),
        2,
        "link broken",
    ),
    "swap two rows' contents": (
        lambda s, ids: _swap_contents(
            s, ids[1], ids[2], ("occurred_at", "actor", "action", "subject", "data")
        ),
        1,
        "content changed",
    ),
    "reorder two rows": (
        lambda s, ids: _swap_contents(
            s,
            ids[1],
            ids[2],
            ("occurred_at", "actor", "action", "subject", "data", "prev_hash", "hash"),
        ),
        1,
        "link broken",
    ),
    "insert a row around the log": (
        lambda s, ids: _tamper(
            s,
            "INSERT INTO audit_events (occurred_at, actor, action, subject, data) "
            "SELECT occurred_at, actor, 'forged', subject, data FROM audit_events WHERE id = :id",
            id=ids[3],
        ),
        None,
        "hash missing",
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_is_detected_and_the_event_named(verify, session, events, tampering):
    tamper, position, reason = TAMPERING[tampering]
    tamper(session, events)
    if position is None:  # the new row
        broken = session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    else:
        broken = events[position]
    problem = verify_chain(session)[1]
    assert (problem.event_id, problem.reason.split(":")[0]) == (broken, reason)
    result = verify()
    assert result.exit_code == 1
    assert f"audit chain broken at event {broken} (" in result.output
    assert reason in result.output and "Traceback" not in result.output


def test_deleting_the_first_event_is_detected(session):
    ids = [record_event(session, SystemActor("test"), "x.done", f"x:{n}").id for n in range(2)]
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id < ids[1]))
    problem = verify_chain(session)[1]
    assert problem.event_id == ids[1] and problem.reason.startswith("link broken")


def _code(n: int) -> str:
    base = f"9133010600000{n:04d}"
    return base + uscc_check_char(base)


def test_concurrent_writers_keep_one_chain(make_app, scratch_database_url, tmp_path):
    # An app on a database of its own, committing for real (tests/test_concurrency.py).
    command.upgrade(alembic_config(scratch_database_url), "head")
    app = make_app(database_url=scratch_database_url)
    with app.app_context():
        session = get_session()
        bureau = {"username": "bureau", "password": "correct horse battery", "role": "bureau"}
        token = auth.create_token(
            session, SystemActor("test"), auth.create_user(session, SystemActor("test"), bureau)
        )
        session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    barrier = threading.Barrier(WRITERS)

    def post(n):
        client = app.test_client()
        body = {"code": _code(n), "name": f"园{n}", "district": "西湖区"}
        barrier.wait()
        return client.post("/api/v1/institutions", json=body, headers=headers).status_code

    def record_pairs(n):
        # Several events per transaction, from several transactions at once.
        barrier.wait()
        for round_ in range(3):
            with app.app_context():
                session = get_session()
                for k in range(2):
                    record_event(
                        session, SystemActor("test"), "pair.recorded", f"pair:{n}.{round_}.{k}"
                    )
                session.commit()

    with ThreadPoolExecutor(WRITERS) as pool:
        assert list(pool.map(post, range(WRITERS))) == [201] * WRITERS
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(record_pairs, range(WRITERS)))

    expected = 2 + WRITERS + WRITERS * 3 * 2  # user and token, institutions, pairs
    anchor = tmp_path / "audit-anchor.json"
    EMPTY_ANCHOR.write(anchor)
    result = CliRunner().invoke(main, ["audit", "verify", "--anchor", str(anchor)], obj=app)
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"审计链完好：共 {expected} 条事件（audit chain intact: {expected} events）\n"
    )


def test_a_savepoint_rolled_back_gives_the_turn_back_and_it_is_taken_again(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns by the write lock")

    def turns_held() -> int:
        return session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted"
            )
        )

    savepoint = session.begin_nested()
    take_turn(session)
    assert turns_held() == 1
    savepoint.rollback()
    assert turns_held() == 0  # PostgreSQL gave the lock back with the savepoint ...
    take_turn(session)
    assert turns_held() == 1  # ... and the next append takes it again


def test_upgrade_chains_the_events_already_recorded(scratch_database_url):
    config = alembic_config(scratch_database_url)
    previous = ScriptDirectory.from_config(config).get_revision(CHAINED).down_revision
    command.upgrade(config, previous)
    engine = make_engine(scratch_database_url)
    insert = sa.text(
        "INSERT INTO audit_events (occurred_at, actor, action, subject, data) "
        "VALUES (:at, :actor, :action, :subject, :data)"
    ).bindparams(sa.bindparam("at", type_=UTCDateTime()), sa.bindparam("data", type_=sa.JSON()))
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    old = [
        {"at": at, "actor": "cli:root", "action": "user.created", "subject": "user:a", "data": {}},
        {
            "at": at + timedelta(microseconds=123456),
            "actor": "王局长",
            "action": "institution.created",
            "subject": "institution:x",
            "data": {"name": "西湖区阳光托育园", "ratio": 0.1, "n": [3, 1e20]},
        },
        {"at": at, "actor": "b", "action": "c", "subject": "d", "data": {"z": 1, "a": 2}},
    ]
    try:
        with engine.begin() as connection:
            connection.execute(insert, old)
        command.upgrade(config, "head")
        with Session(engine) as session:
            assert verify_chain(session) == (3, None)
            record_event(session, SystemActor("test"), "after.upgrade", "x:1")
            session.commit()
            assert verify_chain(session) == (4, None)
            session.execute(sa.text("UPDATE audit_events SET actor = 'x' WHERE actor = 'b'"))
            assert verify_chain(session)[1].event_id == 3
    finally:
        engine.dispose()


def _rebuild_chain_from(session, first_id: int):
    """What an attacker with write access would do after editing an event: recompute
    every hash from there on, so the chain alone holds again."""
    rows = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    previous = GENESIS
    for event in rows:
        if event.id >= first_id:
            event.prev_hash = previous
            event.hash = hashlib.sha256(
                canonical_form(
                    event.occurred_at,
                    event.actor,
                    event.action,
                    event.subject,
                    event.data,
                    previous,
                )
            ).digest()
        previous = event.hash
    session.flush()


def test_an_anchor_shows_a_rebuilt_chain(verify, session, events):
    assert verify().exit_code == 0  # anchors the newest event
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == events[1]).values(subject="thing:forged")
    )
    session.expire_all()
    _rebuild_chain_from(session, events[1])
    assert verify_chain(session)[1] is None  # the chain alone cannot tell
    result = verify()
    assert result.exit_code == 1 and f"event {events[-1]}" in result.output
    assert "rewritten" in result.output


def test_an_anchor_shows_a_log_cut_back(verify, session, events):
    assert verify().exit_code == 0
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id >= events[2]))
    assert verify_chain(session)[1] is None
    result = verify()
    assert result.exit_code == 1 and "missing" in result.output


def test_the_anchor_moves_forward_with_the_log(verify, session, events):
    assert verify().exit_code == 0
    record_event(session, SystemActor("test"), "thing.created", "thing:later")
    assert verify().exit_code == 0
    assert verify().exit_code == 0
