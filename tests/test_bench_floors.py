"""The benches' floor routes do the work they stand for: a floor that skipped the
authentication or the write would flatter every ratio measured against it."""

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.auth.pages import COOKIE
from registry.institutions import services as institutions
from tests.conftest import CODES, id_number

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import ban_check  # noqa: E402 (bench/ is not a package)
import pages  # noqa: E402

BODY = {"id_number": id_number(1), "purpose": "入职前查询"}


@pytest.fixture
def bench(app, make_app):
    """An app of its own with both floor routes, a director with a token and a signed-in
    session; its requests share one connection whose work is rolled back afterwards."""
    own = make_app()  # the shared ``app`` made the schema; routes are added to this one
    own.add_url_rule("/api/v1/bench/floor", "bench_floor", ban_check.floor, methods=["POST"])
    own.add_url_rule("/bench/read-floor", "bench_read_floor", pages.read_floor)
    connection = own.extensions["registry.engine"].connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    own.extensions["registry.sessionmakers"] = {"read": factory, "write": factory}
    ban_check.FLOOR.create(connection)
    session = factory()
    actor = SystemActor("test")
    with own.app_context():
        data = {"code": CODES[0], "name": "地板托育园", "district": "西湖区"}
        institutions.create_institution(session, actor, data)
        user = auth.create_user(
            session,
            actor,
            {
                "username": "floor-director",
                "password": "correct horse battery",
                "role": "director",
                "institution": CODES[0],
            },
        )
        token = auth.create_token(session, actor, user)
        session_id = auth.start_session(session, user)
        session.commit()
    yield own, session, token, session_id
    session.close()
    transaction.rollback()
    connection.close()
    # The floor's table went with the rollback: the shared database keeps the schema
    # the migrations made.
    assert not sa.inspect(own.extensions["registry.engine"]).has_table("bench_floor")


def floor_rows(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(ban_check.FLOOR))


def test_the_check_floor_authenticates_and_writes_one_row(bench):
    app, session, token, _session_id = bench
    client = app.test_client()
    refused = client.post(
        "/api/v1/bench/floor", json=BODY, headers={"Authorization": "Bearer not-a-token"}
    )
    assert refused.status_code == 401
    assert floor_rows(session) == 0
    answer = client.post(
        "/api/v1/bench/floor", json=BODY, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.get_json() == {"ok": True}
    assert floor_rows(session) == 1


def test_the_read_floor_checks_the_session(bench):
    app, _session, _token, session_id = bench
    client = app.test_client()
    assert client.get("/bench/read-floor").status_code == 401
    client.set_cookie(COOKIE, session_id)
    answer = client.get("/bench/read-floor")
    assert answer.status_code == 200 and "地板托育园" in answer.get_data(as_text=True)
