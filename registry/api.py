"""The HTTP API under /api/v1 and its OpenAPI document (flask-smorest)."""

from flask_smorest import Api
from werkzeug.routing import BaseConverter, IntegerConverter

from registry.errors import ErrorSchema
from registry.people.models import PUBLIC_ID_PATTERN


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
    app.url_map.converters["person"] = PersonIdConverter
    api = RegistryApi(app)
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
