"""People are addressed by a random public id in every URL, API body and command; the
row id, which counts up, addresses nobody."""

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from migrations import alembic_config
from registry.db import make_engine
from tests.auth.conftest import csrf_of, sign_in

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_row_ids_address_nobody(client, make_user, make_person):
    person = make_person(1)
    _, hr = make_user("hr")
    _, bureau = make_user("bureau")
    other = make_person(2, name="李静")
    for row_id in (str(person.id), str(other.id), "1", "2"):
        assert client.get(f"/api/v1/people/{row_id}", headers=hr).status_code == 404
        assert client.get(f"/api/v1/people/{row_id}/history", headers=hr).status_code == 404
        body = {"reason": "r", "education": "master"}
        assert client.patch(f"/api/v1/people/{row_id}", json=body, headers=hr).status_code == 404
        merge = {"into": other.public_id, "reason": "r"}
        response = client.post(f"/api/v1/people/{row_id}/merge", json=merge, headers=bureau)
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"  # the one error shape
    # Nor is a row id taken as the record to merge into.
    merge = {"into": str(other.id), "reason": "r"}
    response = client.post(f"/api/v1/people/{person.public_id}/merge", json=merge, headers=bureau)
    assert response.status_code == 422 and "into" in response.get_json()["errors"]
    # A well-formed public id nobody has: 404 too.
    missing = client.get(f"/api/v1/people/{'0' * 32}", headers=hr)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    shown = client.get(f"/api/v1/people/{person.public_id}", headers=hr).get_json()
    assert shown["id"] == person.public_id and HEX32.match(shown["id"])


def test_public_ids_are_random_not_counted(make_person):
    people = [make_person(i, name=f"王{'一二三四五'[i]}") for i in range(5)]
    ids = [p.public_id for p in people]
    assert len(set(ids)) == 5 and all(HEX32.match(i) for i in ids)
    # 128 bits: two consecutive records share no prefix worth speaking of.
    assert len({i[:8] for i in ids}) == 5


def test_the_hr_pages_address_people_by_public_id(app, client, make_user, make_person):
    person = make_person(1)
    user, _ = make_user("hr")
    browser = app.test_client()
    sign_in(browser, user.username)
    assert browser.get(f"/hr/people/{person.id}").status_code == 404
    found = browser.post(
        "/hr/people/find",
        data={"name": "王芳", "csrf_token": csrf_of(browser, "/hr/people")},
    ).get_data(as_text=True)
    assert f'href="/hr/people/{person.public_id}"' in found
    assert not re.search(r"/hr/people/\d+\b(?![0-9a-f])", found)
    page = browser.get(f"/hr/people/{person.public_id}").get_data(as_text=True)
    actions = re.findall(r'action="(/hr/people/[^"]*)"', page)
    assert actions and all(a.startswith(f"/hr/people/{person.public_id}/") for a in actions)


def test_the_api_document_names_people_by_public_id(client):
    document = client.get("/api/v1/openapi.json").get_json()
    person_paths = [p for p in document["paths"] if p.startswith("/api/v1/people/{")]
    assert len(person_paths) >= 5
    for path, item in document["paths"].items():
        parameters = list(item.get("parameters", []))
        parameters += [
            p for o in item.values() if isinstance(o, dict) for p in o.get("parameters", [])
        ]
        if "{person_id}" in path:
            assert any(p["name"] == "person_id" for p in parameters), path
        for parameter in parameters:
            if parameter["in"] == "path" and parameter["name"] == "person_id":
                assert parameter["schema"]["type"] == "string", path
                assert parameter["schema"]["pattern"] == "^[0-9a-f]{32}$", path
    naming = {"person_id", "merged_into", "other_person_id", "into"}
    fields = [
        (name, field, prop)
        for name, schema in document["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if field in naming or (name in ("Person", "FoundPerson") and field == "id")
    ]
    assert len(fields) >= 8
    for name, field, prop in fields:
        assert prop["type"] == "string" and prop["pattern"] == "^[0-9a-f]{32}$", (name, field)


def test_the_command_line_takes_the_public_id(run, make_person):
    person = make_person(1)
    assert run("people", "history", person.public_id).exit_code == 0
    refused = run("people", "history", str(person.id))
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    corrected = run(
        "people", "correct", "--id", person.public_id, "--reason", "r", "--education", "master"
    )
    assert corrected.exit_code == 0 and person.public_id in corrected.output


def test_the_migration_gives_every_existing_person_a_public_id(scratch_database_url):
    config = alembic_config(scratch_database_url)
    command.upgrade(config, "2b7c40d332b4")
    engine = make_engine(scratch_database_url)
    people = sa.table(
        "people",
        *(sa.column(c) for c in ("id_type", "id_index", "id_index_kid", "id_number_enc")),
        *(sa.column(c) for c in ("name_enc", "created_at")),
    )
    try:
        with engine.begin() as connection:
            for i in range(3):
                connection.execute(
                    people.insert().values(
                        id_type="resident_id",
                        id_index=bytes([i]) * 32,
                        id_index_kid="k",
                        id_number_enc=b"x",
                        name_enc=b"y",
                        created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    )
                )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            ids = connection.scalars(sa.text("SELECT public_id FROM people")).all()
    finally:
        engine.dispose()
    assert len(ids) == 3 and len(set(ids)) == 3 and all(HEX32.match(i) for i in ids)
