"""The HTTP API under /api/v1 and its OpenAPI document (flask-smorest)."""

from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from registry.errors import ErrorSchema
from registry.fields import InstitutionCode, Text

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


class IdConverter(IntegerConverter):
    """``<id:…>`` in a route: a row id, 1 to 2**31 - 1. A larger number is a 404, not
    an overflow in the database driver."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


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
    api = RegistryApi(app)
    api.ma_plugin.converter.add_attribute_function(_field_properties)
    api.register_converter(
        IdConverter, lambda _: {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    )
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
