"""Bounded input: a JSON body over its limit is 413, a list over its cap, a string over
its length (before it is normalised) and JSON nested too deep are 422 naming the
problem; nothing is written and nothing reaches a 500."""

import dataclasses
import io
import json

import pytest
import sqlalchemy as sa

from registry.api import MAX_JSON_DEPTH
from registry.fields import MAX_ITEMS, MAX_TEXT
from registry.institutions.models import Institution
from registry.people.models import Person
from tests.conftest import CODES, id_number

PERSON = {
    "id_number": id_number(7),
    "name": "王芳",
    "education": "junior_college",
    "experience": [],
}
INSTITUTION = {"code": CODES[1], "name": "西湖区阳光托育园", "district": "西湖区"}


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def hr(make_user):
    return make_user("hr")[1]


@pytest.fixture
def bureau(make_user):
    return make_user("bureau")[1]


@pytest.fixture
def json_limit(app):
    """Sets the JSON body limit for one test."""
    original = app.extensions["registry.settings"]

    def set_limit(size: int) -> None:
        app.extensions["registry.settings"] = dataclasses.replace(original, max_json_bytes=size)

    yield set_limit
    app.extensions["registry.settings"] = original


def _compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code
    assert "（" in body["message"] and not body["message"].isascii()  # Chinese first
    return body


def test_a_10_mb_json_array_is_413_before_it_is_read(client, session, hr):
    body = b"[" + b"1," * (5 * 1024 * 1024) + b"1]"
    response = client.post("/api/v1/people", data=body, content_type="application/json", headers=hr)
    _assert_error_shape(response, 413, "too_large")
    assert _count(session, Person) == 0


def test_a_body_streamed_without_a_length_is_cut_off_at_the_limit(client, session, hr):
    # What gunicorn gives a chunked upload: no Content-Length, a stream it terminates.
    stream = io.BytesIO(b"[" + b"1," * (5 * 1024 * 1024) + b"1]")
    response = client.post(
        "/api/v1/people",
        input_stream=stream,
        content_type="application/json",
        headers=hr,
        environ_overrides={"wsgi.input_terminated": True},
    )
    _assert_error_shape(response, 413, "too_large")
    assert stream.tell() <= 1024 * 1024 + 64 * 1024  # read no further than the limit
    assert _count(session, Person) == 0


def test_the_json_limit_is_configurable_and_a_body_under_it_is_read(
    client, session, hr, json_limit
):
    body = _compact({**PERSON, "major": "学前教育"})
    json_limit(len(body) - 1)
    refused = client.post("/api/v1/people", data=body, content_type="application/json", headers=hr)
    _assert_error_shape(refused, 413, "too_large")
    json_limit(len(body))
    accepted = client.post("/api/v1/people", data=body, content_type="application/json", headers=hr)
    assert accepted.status_code == 201, accepted.get_json()
    assert _count(session, Person) == 1


def test_a_roll_upload_keeps_its_own_larger_limit(client, hr, json_limit):
    # A roll over the JSON limit is read (and refused for what it holds, not its size).
    json_limit(64 * 1024)
    roll = ("姓名,证件号码\n" + "王芳,123\n" * 10_000).encode()
    assert len(roll) > 64 * 1024
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(roll), "roll.csv"), "dry_run": "true"},
        headers=hr,
    )
    assert response.status_code == 422
    assert response.get_json()["code"] in ("import_rejected", "unusable_file")


def test_a_list_of_1_7_million_items_is_refused_by_its_cap(client, session, hr, json_limit):
    body = _compact({**PERSON, "experience": [0] * 1_700_000})
    json_limit(len(body))  # under the body limit, so the cap is what refuses it
    response = client.post("/api/v1/people", data=body, content_type="application/json", headers=hr)
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert list(errors) == ["experience"]
    assert f"at most {MAX_ITEMS}" in errors["experience"][0]
    assert _count(session, Person) == 0


def test_100k_classes_are_refused(client, session, bureau):
    response = client.post(
        "/api/v1/institutions", json={**INSTITUTION, "classes": [{}] * 100_000}, headers=bureau
    )
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert errors == {"classes": [f"条目过多：至多 {MAX_ITEMS} 条（too many items: at most 50）"]}
    assert _count(session, Institution) == 0


def test_a_list_at_its_cap_is_taken(client, session, bureau):
    classes = [{"type": "toddler", "children": 10}] * MAX_ITEMS
    response = client.post(
        "/api/v1/institutions", json={**INSTITUTION, "classes": classes}, headers=bureau
    )
    assert response.status_code == 201, response.get_json()


def test_1000_nested_brackets_are_422_naming_the_nesting(client, session, hr):
    for body in (
        "[" * 1000 + "]" * 1000,
        '{"name": ' + "[" * 1000 + "]" * 1000 + "}",
        json.dumps({"name": _nested(MAX_JSON_DEPTH)}),  # parses, yet deeper than allowed
    ):
        response = client.post(
            "/api/v1/people", data=body, content_type="application/json", headers=hr
        )
        errors = _assert_error_shape(response, 422, "invalid")["errors"]
        assert errors == {
            "_schema": [f"嵌套超过 {MAX_JSON_DEPTH} 层（nested more than 16 levels deep）"]
        }
    assert _count(session, Person) == 0


def _nested(levels: int):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_1_mb_string_is_refused_as_too_long_before_it_is_normalised(
    client, session, hr, json_limit
):
    # Control characters are refused by the name's own check, which reads every
    # character: the answer is "too long", so the string was never read through.
    json_limit(8 * 1024 * 1024)  # "\x01" is six bytes in JSON
    response = client.post(
        "/api/v1/people", json={**PERSON, "name": "\x01" * (1024 * 1024)}, headers=hr
    )
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert errors == {"name": ["过长：至多 100 个字符（too long: at most 100 characters）"]}
    assert _count(session, Person) == 0


@pytest.mark.parametrize(
    ("url", "body", "field", "limit"),
    [
        # A field without a length of its own gets the general one.
        ("/api/v1/people/lookup", {"id_number": "1" * 65}, "id_number", 64),
        ("/api/v1/people", {**PERSON, "major": "学" * 201}, "major", 200),
        (
            "/api/v1/people",
            {**PERSON, "experience": [{"field": "childcare", "organization": "园" * 201}]},
            "experience",
            200,
        ),
    ],
)
def test_strings_over_their_length_are_named(client, session, hr, url, body, field, limit):
    response = client.post(url, json=body, headers=hr)
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert field in errors and f"at most {limit} characters" in json.dumps(errors)
    assert _count(session, Person) == 0


def test_a_query_string_over_its_length_is_named(client, bureau):
    response = client.get(
        "/api/v1/institutions", query_string={"district": "区" * 101}, headers=bureau
    )
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert errors == {"district": ["过长：至多 100 个字符（too long: at most 100 characters）"]}


def test_a_text_field_without_a_length_of_its_own_has_the_general_one(client, bureau):
    response = client.get(
        "/api/v1/rates", query_string={"district": "区" * (MAX_TEXT + 1)}, headers=bureau
    )
    errors = _assert_error_shape(response, 422, "invalid")["errors"]
    assert errors == {
        "district": [f"过长：至多 {MAX_TEXT} 个字符（too long: at most 1000 characters）"]
    }


def _input_schemas(document: dict):
    """Every schema the document shows a client sending: request bodies and parameters,
    with the schemas they refer to."""
    components = document["components"]["schemas"]
    seen: dict[str, dict] = {}

    def walk(schema: dict, where: str):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                seen[name] = components[name]
                walk(components[name], name)
            return
        for prop, sub in schema.get("properties", {}).items():
            if not sub.get("readOnly"):  # answers only, never sent
                found.append((f"{where}.{prop}", sub))
                walk(sub, f"{where}.{prop}")
        if "items" in schema:
            walk(schema["items"], f"{where}[]")

    found: list[tuple[str, dict]] = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    found.append((f"{method} {path} ?{parameter['name']}", parameter["schema"]))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                walk(media["schema"], f"{method} {path}")
    return found


def test_the_document_states_every_input_cap(client):
    document = client.get("/api/v1/openapi.json").get_json()
    uncapped = []
    for where, schema in _input_schemas(document):
        if "$ref" in schema:
            continue
        if schema.get("type") == "array" and "maxItems" not in schema:
            uncapped.append(where)
        # A date's or a file's format bounds it in the document (and the raw value is
        # held to the general length all the same).
        if schema.get("type") == "string" and "format" not in schema:
            if "maxLength" not in schema:
                uncapped.append(where)
    assert uncapped == [], uncapped
    checked = dict(_input_schemas(document))
    assert any(s.get("maxItems") == MAX_ITEMS for s in checked.values())
    assert len(checked) > 50
