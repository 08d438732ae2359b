"""What schemathesis found once, held by small tests that run in a moment."""

import re

import pytest
from marshmallow import ValidationError

from registry.api import TEXT_PATTERN
from registry.fields import Text


def test_a_method_an_address_does_not_take_is_405_with_allow(client):
    response = client.open("/api/v1/alerts", method="TRACE")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET"}
    assert response.get_json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "text", ["王芳", " 王芳 ", "x y", "", "   ", "\u3000", "a\tb", "a\x00", "\x85", "\x9f王"]
)
def test_the_documented_pattern_takes_exactly_what_text_takes(text):
    try:
        Text().deserialize(text)
        taken = True
    except ValidationError:
        taken = False
    assert bool(re.search(TEXT_PATTERN, text)) is taken


def test_the_document_states_the_text_rules_and_the_optional_bodies(client):
    document = client.get("/api/v1/openapi.json").get_json()
    name = document["components"]["schemas"]["Ban"]["properties"]["name"]
    assert name["minLength"] == 1 and name["pattern"] == TEXT_PATTERN
    assert name["maxLength"] == 100
    tokens = document["paths"]["/api/v1/tokens"]["post"]["requestBody"]
    assert tokens["required"] is False
    upload = document["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    schema = document["components"]["schemas"]["ImportUpload"]
    assert list(upload) == ["multipart/form-data"]
    assert set(schema["properties"]) == {"file", "dry_run", "partial"}
    assert schema["required"] == ["file"]


def test_a_token_asked_for_without_a_body_is_issued(client, make_user):
    _, headers = make_user("hr")
    response = client.post("/api/v1/tokens", headers=headers)
    assert response.status_code == 201 and response.get_json()["token"]


def test_every_masked_number_is_described_as_three_and_four(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    masked = {
        (name, field): prop
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if "masked" in field or "masked" in prop.get("description", "")
    }
    assert ("Person", "id_number_masked") in masked and len(masked) >= 3
    for prop in masked.values():
        assert "first 3 and last 4" in prop["description"]
        assert prop["example"] == "110***********002X"
