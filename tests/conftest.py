"""The test database is made by the migrations, on SQLite or on the PostgreSQL named by
REGISTRY_TEST_DATABASE_URL; every test runs in a transaction that is rolled back."""

import dataclasses
import os
import time
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from cli import main
from migrations import alembic_config
from registry import create_app, crypto
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.config import load_settings
from registry.credentials import services as credentials
from registry.identity import gb11643_check_char, parse_identity
from registry.institutions import services as institutions
from registry.people import services as people

# Property tests have no deadline: hypothesis's default (200 ms an example) is a timed
# assertion, and fails a correct test on a busy machine.
hypothesis_settings.register_profile("registry", deadline=None)
hypothesis_settings.load_profile("registry")

# Valid 统一社会信用代码 for tests (check characters computed by registry.identity).
CODES = ["91350100M000100Y43", "91110000802100433B", "12100000400000624D", "52110000500019306L"]


def id_number(i: int = 0) -> str:
    """A valid resident ID number, a different one for each ``i``."""
    first17 = f"11010519900101{i:03d}"
    return first17 + gb11643_check_char(first17)


def _create_scratch_database(base_url: str) -> str:
    """A new, empty database beside ``base_url``; returns its URL."""
    url = make_url(base_url)
    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = sa.create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        # FORCE ends our own leftover connections; an autovacuum worker busy with the
        # new database belongs to the server, cannot be ended by us, and is gone soon.
        for attempt in range(20):
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except sa.exc.ProgrammingError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        admin.dispose()


@pytest.fixture
def scratch_database_url(tmp_path):
    """An empty database of the backend under test, for tests that need their own
    (migrations, subprocesses); dropped afterwards."""
    base = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    url = _create_scratch_database(base)
    yield url
    _drop_database(base, url)


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    base = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    url = _create_scratch_database(base) if base else f"sqlite:///{instance / 'registry.db'}"
    crypto.generate_missing_keys(instance / "keys")
    yield load_settings(
        {
            "REGISTRY_INSTANCE_PATH": str(instance),
            "REGISTRY_DATABASE_URL": url,
        }
    )
    if base:
        _drop_database(base, url)


@pytest.fixture(scope="session")
def app(settings):
    command.upgrade(alembic_config(settings.database_url), "head")
    app = create_app(settings)
    yield app
    app.extensions["registry.engine"].dispose()


@pytest.fixture
def make_app(settings):
    """Makes apps of their own (to add routes, or on another database); their
    connections are closed after the test."""
    apps = []

    def make(**changes):
        apps.append(create_app(dataclasses.replace(settings, **changes)))
        return apps[-1]

    yield make
    for app in apps:
        app.extensions["registry.engine"].dispose()


@pytest.fixture
def session(app):
    """A session whose work is rolled back after the test; requests made by the test
    client share its connection, and their commits become savepoints."""
    engine = app.extensions["registry.engine"]
    connection = engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    original = app.extensions["registry.sessionmakers"]
    app.extensions["registry.sessionmakers"] = {"read": factory, "write": factory}
    session = factory()
    yield session
    session.close()
    app.extensions["registry.sessionmakers"] = original
    transaction.rollback()
    connection.close()
    # The rates page keeps reports while the data's newest ids stand still; a rollback
    # takes ids back, so the reports of the test's data go with it.
    app.extensions.pop("rates_reports", None)


@pytest.fixture
def client(app, session):
    return app.test_client()


@pytest.fixture
def make_institution(session):
    def make(code=CODES[0], name="西湖区第一托育园", district="西湖区", **extra):
        data = {
            "code": code,
            "name": name,
            "district": district,
            "classes": [],
            "meals_on_site": False,
        }
        data.update(extra)
        return institutions.create_institution(session, SystemActor("test"), data)

    return make


@pytest.fixture
def make_user(session):
    """Creates a user and returns ``(user, headers)``, headers carrying its API token."""
    counter = iter(range(10_000))

    def make(role="bureau", institution=None, username=None):
        data = {
            "username": username or f"{role}{next(counter)}",
            "password": "correct horse battery",
            "role": role,
            "institution": institution.code if institution else None,
        }
        user = auth.create_user(session, SystemActor("test"), data)
        return user, {
            "Authorization": f"Bearer {auth.create_token(session, SystemActor('test'), user)}"
        }

    return make


@pytest.fixture
def make_person(app, session):
    """Registers a person through the service and records the given certificates:
    ``make_person(3, certificates=[("health_certificate", date(2026, 1, 5))])``."""

    def make(i=0, name="王芳", education="bachelor", major=None, experience=(), certificates=()):
        data = {
            "identity": parse_identity(id_number(i)),
            "name": name,
            "education": education,
            "major": major,
            "experience": [dict(e) for e in experience],
        }
        with app.app_context():
            return _register(data, certificates, i)

    def _register(data, certificates, i):
        person = people.register_person(session, SystemActor("test"), data)
        for n, (kind, issued_on, *expires_on) in enumerate(certificates):
            certificate = {
                "kind": kind,
                "level": None,
                "number": f"{i}-{kind}-{n}",
                "issuer": "杭州市人力资源和社会保障局",
                "issued_on": issued_on,
                "expires_on": expires_on[0] if expires_on else None,
            }
            credentials.add_certificate(session, SystemActor("test"), person, certificate)
        return person

    return make


@pytest.fixture
def run(app, session):
    """Runs a command in-process against the test database (in the test's transaction)."""

    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), obj=app, input=input)

    return invoke
