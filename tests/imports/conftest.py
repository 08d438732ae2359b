"""Roll imports commit for real here, as ``registry import-roll`` and the API do: each
test module has a database of its own, made by the migrations, and every table is
emptied after each test.

The fixtures keep the names of the suite's (``app``, ``session``, ``client``, ``run``),
so the factories (``make_person``, ``make_user`` …) write through this session. What a
test wrote is committed before each request or command it makes, as a user's work would
have been, and the session reads afresh after it.
"""

import dataclasses
import os

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from flask.testing import FlaskClient

from cli import main
from migrations import alembic_config
from registry import create_app
from registry.db import Base
from tests.conftest import _create_scratch_database, _drop_database


@pytest.fixture(scope="module")
def app(settings, tmp_path_factory):
    base = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    if base:
        url = _create_scratch_database(base)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('imports') / 'registry.db'}"
    command.upgrade(alembic_config(url), "head")
    app = create_app(dataclasses.replace(settings, database_url=url))
    yield app
    app.extensions["registry.engine"].dispose()
    if base:
        _drop_database(base, url)


def _empty(engine: sa.Engine) -> None:
    """Every table emptied, the ones referring to others first."""
    with engine.connect().execution_options(registry_writes=True) as conn, conn.begin():
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def session(app):
    """A session on the module's database whose work is committed (by the import, or
    before a request or a command); the tables are emptied after the test."""
    session = app.extensions["registry.sessionmakers"]["read"]()
    yield session
    session.close()
    _empty(app.extensions["registry.engine"])


@pytest.fixture
def client(app, session):
    class Client(FlaskClient):
        def open(self, *args, **kwargs):
            session.commit()
            response = super().open(*args, **kwargs)
            session.expire_all()
            return response

    app.test_client_class = Client
    try:
        yield app.test_client()
    finally:
        app.test_client_class = None


@pytest.fixture
def run(app, session):
    """Runs a command in-process against the module's database."""

    def invoke(*args, input=None):
        session.commit()
        result = CliRunner().invoke(main, list(args), obj=app, input=input)
        session.expire_all()
        return result

    return invoke
