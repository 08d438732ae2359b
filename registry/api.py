"""The HTTP API under /api/v1 and its OpenAPI document (flask-smorest)."""

import flask_smorest
from flask import current_app, request
from flask_smorest import Api
from webargs.flaskparser import FlaskParser, abort
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter, IntegerConverter

from registry.errors import ErrorSchema
from registry.fields import InstitutionCode, Text
from registry.messages import _
from registry.people.models import PUBLIC_ID_PATTERN

# Deeper than any body the API takes (a list of objects inside an object is 3): a client
# nesting more is mistaken or probing, and JSON nested 1,000 deep would exhaust the stack.
MAX_JSON_DEPTH = 16

# Endpoints whose body is a roll: they keep the upload limit (MAX_CONTENT_LENGTH).
ROLL_UPLOADS = frozenset({"imports.upload"})

# What ``Text`` takes, as a JSON Schema can say it: at least one character that is not
# a space, and no control character (C0, DEL, C1) anywhere.
_NO_CONTROL = r"[^\u0000-\u001f\u007f-\u009f]"
TEXT_PATTERN = rf"^{_NO_CONTROL}*[^\s\u0000-\u001f\u007f-\u009f]{_NO_CONTROL}*$"


def _field_properties(self, field, **kwargs) -> dict:
    """The document states ``Text``'s own refusals, so that a request the document
    allows is not refused for an empty name or a control character, and names the
    format of an institution code."""
    if isinstance(field, Text):
        return {"minLength": max(1, kwargs["ret"].get("minLength", 1)), "pattern": TEXT_PATTERN}
    if isinstance(field, InstitutionCode):
        # The check character cannot be written as a JSON Schema: a named format.
        return {"format": "unified-social-credit-code"}
    return {}


class RegistryApi(Api):
    # The document shows our one error shape (the handlers are in registry.errors).
    ERROR_SCHEMA = ErrorSchema

    def _register_pagination_header(self):
        # A header's value is text: flask-smorest documents X-Pagination as the object
        # it encodes, which no header value is. Documented as the JSON text it is.
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "JSON: total, total_pages, first_page, last_page, page, "
                "previous_page, next_page (the last two only where there is one)",
                "schema": {
                    "type": "string",
                    "example": '{"total": 1, "total_pages": 1, '
                    '"first_page": 1, "last_page": 1, "page": 1}',
                },
            },
            lazy=True,
        )


class RegistryParser(FlaskParser):
    """webargs' parser, refusing JSON nested deeper than ``MAX_JSON_DEPTH`` with a 422
    that says so, instead of a RecursionError's 500."""

    def _raw_load_json(self, req):
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = _nested_deeper_than(data, MAX_JSON_DEPTH)
        if too_deep:
            message = _("nested more than {depth} levels deep", depth=MAX_JSON_DEPTH)
            abort(422, messages={"json": {"_schema": [message]}})
        return data


def _nested_deeper_than(value, depth: int) -> bool:
    # Iterative, so the check itself cannot exhaust the stack.
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, level = stack.pop()
        if level > depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return False


class Blueprint(flask_smorest.Blueprint):
    """The API's blueprints: their arguments are parsed by ``RegistryParser``."""

    ARGUMENTS_PARSER = RegistryParser()


def _limit_body() -> None:
    """Every API request but a roll's upload carries at most ``max_json_bytes``: a
    larger declared length is refused before anything is read (or a user is looked
    up), and a body streamed without one is cut off when it passes the limit."""
    if not _is_api(request.path) or request.endpoint in ROLL_UPLOADS:
        return
    limit = current_app.extensions["registry.settings"].max_json_bytes
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


def _is_api(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/v1/")


class IdConverter(IntegerConverter):
    """``<id:…>`` in a route: a row id, 1 to 2**31 - 1. A larger number is a 404, not
    an overflow in the database driver."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


class PersonIdConverter(BaseConverter):
    """``<person:…>`` in a route: a person's public id (32 hexadecimal characters, 128
    random bits). People are never addressed by their row id, which counts up."""

    regex = PUBLIC_ID_PATTERN


PERSON_ID = {
    "type": "string",
    "pattern": f"^{PUBLIC_ID_PATTERN}$",
    "example": "3f9c2a7e5b1d48c6a0e47d2b9f6c1e85",
}


def init_api(app) -> Api:
    app.config.update(
        API_TITLE="托育机构从业人员资质与禁入登记 · Staff registry",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.url_map.converters["id"] = IdConverter
    app.before_request(_limit_body)
    app.url_map.converters["person"] = PersonIdConverter
    api = RegistryApi(app)
    api.ma_plugin.converter.add_attribute_function(_field_properties)
    api.register_converter(
        IdConverter, lambda _: {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    )
    api.register_converter(PersonIdConverter, lambda _: PERSON_ID)
    from registry.alerts.views import blp as alerts
    from registry.auth.views import tokens, users
    from registry.bans.views import blp as bans
    from registry.credentials.views import blp as certificates
    from registry.eligibility.views import blp as eligibility
    from registry.imports.views import blp as imports
    from registry.institutions.views import blp as institutions
    from registry.people.views import blp as people
    from registry.rates.views import blp as rates
    from registry.staffing.views import blp as staffing

    for blueprint in (
        institutions,
        people,
        certificates,
        eligibility,
        staffing,
        bans,
        alerts,
        imports,
        rates,
        users,
        tokens,
    ):
        api.register_blueprint(blueprint)
    return api
