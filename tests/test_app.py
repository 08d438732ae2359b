"""Configuration, the database engine and the one error shape."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask import request

from registry import create_app, crypto
from registry.config import ConfigError, load_settings
from registry.db import UTCDateTime, get_session, make_engine
from registry.institutions.models import Institution, InstitutionClass
from tests.conftest import CODES


def test_embedded_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.env == "development"
    assert settings.instance_path == tmp_path / "instance"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'registry.db'}"
    assert settings.keys_dir == tmp_path / "instance" / "keys"


def test_environment_overrides(tmp_path):
    settings = load_settings(
        {
            "REGISTRY_INSTANCE_PATH": str(tmp_path / "inst"),
            "REGISTRY_DATABASE_URL": "postgresql+psycopg://u@db/registry",
            "REGISTRY_KEYS_DIR": str(tmp_path / "secrets"),
            "REGISTRY_ENV": "production",
        }
    )
    assert settings.production
    assert settings.database_url == "postgresql+psycopg://u@db/registry"
    assert settings.keys_dir == tmp_path / "secrets"


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="REGISTRY_ENV must be one of"):
        load_settings({"REGISTRY_ENV": "prod"})


def test_production_refuses_to_start_without_keys(tmp_path):
    settings = load_settings(
        {"REGISTRY_ENV": "production", "REGISTRY_INSTANCE_PATH": str(tmp_path)}
    )
    crypto.generate_key(settings.keys_dir, "blind_index")
    with pytest.raises(ConfigError, match=r"no encryption, receipts key in .*keys"):
        create_app(settings)


def test_sqlite_is_configured_for_a_registry(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    engine.dispose()


def test_times_come_back_aware_and_in_utc(session):
    column = sa.Column("t", UTCDateTime())
    table = sa.Table("tmp_times", sa.MetaData(), column, prefixes=["TEMPORARY"])
    table.create(session.connection())
    beijing = datetime(2026, 3, 5, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    session.execute(table.insert().values(t=beijing))
    stored = session.execute(sa.select(table.c.t)).scalar_one()
    assert stored == beijing and stored.tzinfo == UTC and stored.hour == 0
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.execute(table.insert().values(t=datetime(2026, 3, 5)))


# -- the error shape -------------------------------------------------------------------


def test_unknown_route_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    assert set(response.get_json()) == {"code", "message"}


def test_wrong_method_is_a_json_405(client):
    response = client.delete("/api/v1/institutions")
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"


def test_unexpected_errors_reveal_nothing(make_app, caplog):
    app = make_app()

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret detail 11010519491231002X and 110105491231002")

    response = app.test_client().get("/api/v1/boom")
    assert response.status_code == 500
    assert response.get_json() == {
        "code": "internal_error",
        "message": "内部错误（internal error）",
    }
    assert b"secret" not in response.data and b"Traceback" not in response.data
    # The log keeps the traceback for the operator, with the numbers masked.
    logged = caplog.text
    assert (
        "Traceback" in logged and "secret detail 110***********002X and 110********1002" in logged
    )
    assert "11010519491231002X" not in logged and "110105491231002" not in logged


def test_failed_statements_do_not_log_their_parameters(make_app, caplog):
    app = make_app()

    @app.get("/api/v1/bad-sql")
    def bad_sql():
        get_session().execute(
            sa.text("SELECT no_such_column FROM institutions WHERE name = :n"), {"n": "王小明"}
        )

    assert app.test_client().get("/api/v1/bad-sql").status_code == 500
    assert "no_such_column" in caplog.text and "王小明" not in caplog.text


def test_broken_check_constraint_is_a_500_not_a_conflict(make_app):
    app = make_app()

    @app.post("/api/v1/negative")
    def negative():
        session = get_session()
        session.add(
            Institution(
                code=CODES[3],
                name="园",
                district="区",
                classes=[InstitutionClass(type="infant", children=-1)],
            )
        )
        session.commit()

    assert app.test_client().post("/api/v1/negative").status_code == 500


def test_too_large_bodies_are_a_json_413(make_app):
    app = make_app(max_json_bytes=100)  # an API route that takes no roll

    @app.post("/api/v1/upload")
    def upload():
        return {"size": len(request.get_data())}

    client = app.test_client()
    assert client.post("/api/v1/upload", data=b"x" * 100).get_json() == {"size": 100}
    response = client.post("/api/v1/upload", data=b"x" * 101)
    assert response.status_code == 413
    assert response.get_json()["code"] == "too_large"


def test_malformed_json_is_a_json_400(client, make_user):
    _, headers = make_user("bureau")
    response = client.post(
        "/api/v1/institutions", data=b"{not json", content_type="application/json", headers=headers
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/institutions", "/api/v1/institutions/{code}"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = document["components"]["schemas"]["Error"]["properties"]
    assert set(error) == {"code", "message", "errors", "id"}


def test_openapi_document_names_the_roles_of_each_endpoint(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "Roles: admin, bureau." in paths["/api/v1/institutions"]["post"]["description"]


def test_a_constraint_stopping_a_race_is_a_json_409(make_app):
    app = make_app()

    @app.post("/api/v1/race")
    def race():
        session = get_session()
        for _ in range(2):  # what two requests passing the same uniqueness check would do
            session.add(Institution(code=CODES[3], name="园", district="西湖区"))
        session.commit()

    response = app.test_client().post("/api/v1/race")
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    with app.app_context():
        assert (
            get_session().scalar(sa.select(Institution).where(Institution.code == CODES[3])) is None
        )
