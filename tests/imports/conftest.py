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
import subprocess

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


class Killed(BaseException):
    """The merge's process killed in the middle: nothing after it runs, not even the
    merge's own clean-up."""


@pytest.fixture
def killed_mid_merge(monkeypatch):
    """Kill the next merge once its people and certificates are written, before it
    finishes its batch; raises ``Killed`` out of the import."""
    from registry.imports import merge, turns

    write_certificates = merge.write_certificates

    def written_then_killed(job, batch_id):
        write_certificates(job, batch_id)
        raise Killed

    monkeypatch.setattr(merge, "write_certificates", written_then_killed)
    monkeypatch.setattr(turns, "abandon", lambda conn, batch_id, owner: None)
    return Killed


def rows_in(session, model) -> int:
    """Rows of a model's table, the hidden ones too."""
    return session.scalar(sa.select(sa.func.count()).select_from(model.__table__))


def dead_pid() -> int:
    """The pid of a process that has ended (as a killed merge's has)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def restart(app) -> int:
    """The server starts again after its process was killed: interrupted merges are
    recovered, as ``registry serve`` does. How many."""
    from registry.imports import turns
    from registry.imports.models import ImportBatch

    engine = app.extensions["registry.engine"]
    with engine.begin() as conn:
        conn.execute(
            sa.update(ImportBatch.__table__)
            .where(ImportBatch.__table__.c.status == "running")
            .values(pid=dead_pid())
        )
    return turns.recover_interrupted(engine)
