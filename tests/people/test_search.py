"""Search by exact name for the bureau and HR, through the keyed index of the name."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from registry.crypto import current_keyring
from registry.identity import parse_identity
from registry.people.models import Person
from registry.people.names import name_index, name_key
from tests.conftest import id_number

PERIOD = {
    "field": "childcare",
    "organization": "西湖区阳光托育园",
    "management": False,
    "start": date(2019, 9, 1),
    "end": None,
}


def _masked(number: str) -> str:
    return parse_identity(number).masked


def _search(client, headers, name):
    return client.post("/api/v1/people/search", json={"name": name}, headers=headers)


@pytest.fixture
def hr(make_user):
    return make_user("hr")[1]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("阿依古丽·买买提", "阿依古丽•买买提"),
        ("阿依古丽·买买提", "阿依古丽 ・ 买买提"),
        ("阿依古丽·买买提", "阿依古丽．买买提"),
        ("阿依古丽·买买提", "阿依古丽‧买买提"),
        ("阿依古丽·买买提", "阿依古丽･买买提"),
        ("王芳", " 王 芳 "),
        ("John Smith", "ＪＯＨＮ　ＳＭＩＴＨ"),
    ],
)
def test_names_compare_after_normalising(a, b):
    assert name_key(a) == name_key(b)


def test_different_names_stay_different():
    assert name_key("王芳") != name_key("王方")
    assert name_key("阿依古丽·买买提") != name_key("阿依古丽买买提")


def test_search_finds_everyone_with_the_name_and_masks_the_numbers(
    client, hr, make_person, session
):
    first = make_person(1, name="阿依古丽·买买提")
    second = make_person(2, name="阿依古丽 • 买买提")
    make_person(3, name="阿依古丽")
    response = _search(client, hr, "阿依古丽・买买提")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [p["id"] for p in body["people"]] == [first.public_id, second.public_id] and body[
        "more"
    ] is False
    number = id_number(1)
    assert body["people"][0]["id_number_masked"] == _masked(number)
    assert number not in response.get_data(as_text=True)
    assert body["people"][1]["name"] == "阿依古丽 • 买买提"  # as registered
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "person.searched"))
    assert event.data["found"] == [first.id, second.id]
    assert "阿依古丽" not in event.subject + repr(event.data)


def test_the_index_is_keyed_and_apart_from_the_number_index(app, make_person):
    person = make_person(1, name="王芳")
    with app.app_context():
        keyring = current_keyring()
        assert person.name_index == name_index(keyring, "王芳")
        assert person.name_index != keyring.blind_index(name_key("王芳"))
        assert "王芳".encode() not in person.name_index


def test_nobody_with_the_name_is_an_empty_answer(client, hr, make_person):
    make_person(1, name="王芳")
    body = _search(client, hr, "王方").get_json()
    assert body == {"people": [], "more": False}


def test_a_search_never_decrypts_every_row(client, hr, make_person, session, monkeypatch):
    for i in range(5):
        make_person(i, name=f"张{i}")
    make_person(9, name="王芳")
    from registry.crypto import Keyring

    calls = []
    original = Keyring.decrypt
    monkeypatch.setattr(
        Keyring,
        "decrypt",
        lambda self, token, context: calls.append(context) or original(self, token, context),
    )
    assert len(_search(client, hr, "王芳").get_json()["people"]) == 1
    assert calls.count("person.name") == 1  # the one found, to answer with the name


@pytest.mark.parametrize("role", ["director", "inspector", "admin"])
def test_directors_and_others_may_not_search(client, make_user, make_institution, role):
    _, headers = make_user(role, make_institution() if role == "director" else None)
    assert _search(client, headers, "王芳").status_code == 403


def test_a_name_in_the_url_is_not_how_to_search(client, hr):
    assert client.get("/api/v1/people/search?name=王芳", headers=hr).status_code in (404, 405)


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": 3}])
def test_a_bad_search_is_422_naming_the_name(client, hr, body):
    response = client.post("/api/v1/people/search", json=body, headers=hr)
    assert response.status_code == 422 and "name" in response.get_json()["errors"]


def test_searches_spend_the_budget_of_checks(app, client, hr, make_person):
    original = app.extensions["registry.settings"]
    app.extensions["registry.settings"] = original.with_budget(2, 1_000)
    try:
        assert [_search(client, hr, "王芳").status_code for _ in range(2)] == [200, 200]
        refused = _search(client, hr, "王芳")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
    finally:
        app.extensions["registry.settings"] = original


def test_the_command_searches_too(run, make_person, session):
    person = make_person(4, name="阿依古丽·买买提")
    result = run("people", "search", "--name", "阿依古丽 ・ 买买提")
    assert result.exit_code == 0, result.output
    assert person.public_id in result.output and id_number(4) not in result.output
    assert _masked(id_number(4)) in result.output
    result = run("people", "search", "--name", "无此人")
    assert result.exit_code == 0 and "没有" in result.output


def test_names_registered_before_the_index_are_indexed_by_the_command(run, make_person, session):
    person = make_person(5, name="王芳")
    session.execute(sa.update(Person).values(name_index=None, name_index_kid=None))
    result = run("people", "search", "--name", "王芳", "--format", "json")
    assert '"people": []' in result.output
    result = run("people", "reindex-names")
    assert result.exit_code == 0 and "1" in result.output, result.output
    session.expire_all()
    assert session.get(Person, person.id).name_index is not None
    result = run("people", "search", "--name", "王芳", "--format", "json")
    assert f'"id": "{person.public_id}"' in result.output


def test_a_search_takes_the_same_statements_however_many_it_finds(app, make_person, session):
    from registry.people import services

    def statements_of_search(expected: int) -> int:
        session.expire_all()  # nothing of them loaded: the search loads what it shows
        statements = []
        engine = session.get_bind().engine

        def count_statement(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count_statement)
        try:
            with app.app_context():
                found = services.search_by_name(session, SystemActor("test"), "王芳")
        finally:
            sa.event.remove(engine, "before_cursor_execute", count_statement)
        assert len(found["people"]) == expected
        return len(statements)

    for i in range(2):
        make_person(i, name="王芳", experience=[PERIOD])
    with_two = statements_of_search(2)
    for i in range(2, 20):
        make_person(i, name="王芳", experience=[PERIOD])
    assert statements_of_search(20) == with_two <= 4  # the search, then its audit event
