"""The HTTP API under /api/v1 and its OpenAPI document (flask-smorest)."""

from flask_smorest import Api

from registry.errors import ErrorSchema


class RegistryApi(Api):
    # The document shows our one error shape (the handlers are in registry.errors).
    ERROR_SCHEMA = ErrorSchema


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
    api = RegistryApi(app)
    from registry.institutions.views import blp as institutions

    api.register_blueprint(institutions)
    return api
