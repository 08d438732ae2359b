"""A roll's merge is written in chunks of short transactions, its rows hidden until the
last one commits; meanwhile other writers go on, except those of people and certificates
(503 busy); a merge that fails or is cut off is cleared away, and imports take turns."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from registry.credentials.models import Certificate
from registry.crypto import sealed_identity
from registry.db import get_session
from registry.identity import parse_identity
from registry.imports import merge, services, turns
from registry.imports.models import ImportBatch
from registry.people.models import Person
from registry.people.services import NAME_CONTEXT, NUMBER_CONTEXT
from tests.conftest import id_number
from tests.imports.conftest import dead_pid, rows_in
from tests.imports.test_services import good_rows, row, write_csv
from tests.test_concurrency import _live_app

CHECK = {"id_number": id_number(3), "purpose": "入职前查询"}


def _person(i: int) -> dict:
    return {"id_number": id_number(i), "name": f"张{i}", "education": "senior_high"}


def _elsewhere(call):
    """Run ``call`` in another thread, as another request would be, and return its result."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _import(app, path, **options):
    with app.app_context():
        return services.run_import(get_session(), SystemActor("test"), path, **options)


@pytest.fixture
def live(make_app, scratch_database_url):
    return _live_app(make_app, scratch_database_url)


def test_chunks_commit_one_by_one_and_stay_hidden_until_the_batch_is_finished(
    live, tmp_path, monkeypatch
):
    app, headers = live
    client = app.test_client()
    assert client.post("/api/v1/people", json=_person(0), headers=headers).status_code == 201
    monkeypatch.setattr(merge, "CHUNK_ROWS", 2)
    # Person 0 is registered; persons 1 to 4 are new, person 1 with a second certificate
    # in a later chunk than the first.
    rows = good_rows(5) + [row(1, number="C09999")]
    engine = app.extensions["registry.engine"]
    seen_by_others = []  # people rows another connection sees as each chunk is written
    beat = turns.beat

    def beat_and_look(conn, batch_id):
        with engine.connect() as other:
            seen_by_others.append(
                other.scalar(sa.select(sa.func.count()).select_from(Person.__table__))
            )
        beat(conn, batch_id)

    monkeypatch.setattr(turns, "beat", beat_and_look)
    while_running = {}
    write_certificates = merge.write_certificates

    def written_then_look(job, batch_id):
        write_certificates(job, batch_id)
        other = app.test_client()
        lookup = {"id_number": id_number(4)}
        while_running["check"] = _elsewhere(
            lambda: other.post("/api/v1/ban-checks", json=CHECK, headers=headers)
        )
        while_running["lookup"] = _elsewhere(
            lambda: other.post("/api/v1/people/lookup", json=lookup, headers=headers)
        )
        while_running["register"] = _elsewhere(
            lambda: other.post("/api/v1/people", json=_person(7), headers=headers)
        )
        while_running["person 0"] = _elsewhere(
            lambda: other.post(
                "/api/v1/people/lookup", json={"id_number": id_number(0)}, headers=headers
            )
        )
        with app.app_context():
            session = get_session()
            while_running["seen"] = (
                session.scalar(sa.select(sa.func.count()).select_from(Person)),
                session.scalar(sa.select(sa.func.count()).select_from(Certificate)),
            )
            while_running["written"] = (rows_in(session, Person), rows_in(session, Certificate))

    monkeypatch.setattr(merge, "write_certificates", written_then_look)
    summary = _import(app, write_csv(tmp_path / "roll.csv", rows))

    # Each chunk committed before the next began: another connection saw them grow.
    people_chunks = seen_by_others[:3]
    assert people_chunks == sorted(people_chunks) and people_chunks[0] < people_chunks[-1]
    # While the batch ran: a hiring check answered, its rows were written but hidden,
    # and registering a person waited for the import.
    assert while_running["check"].status_code == 200
    assert while_running["lookup"].status_code == 404
    assert while_running["person 0"].json["certificates"] == []
    register = while_running["register"]
    assert register.status_code == 503 and register.json["code"] == "busy"
    assert int(register.headers["Retry-After"]) >= 1 and "导入" in register.json["message"]
    assert while_running["seen"] == (1, 0) and while_running["written"] == (5, 6)
    # Finished: the whole roll at once.
    assert (summary.status, summary.created, summary.people_created) == ("accepted", 6, 4)
    found = client.post("/api/v1/people/lookup", json={"id_number": id_number(1)}, headers=headers)
    assert sorted(c["number"] for c in found.json["certificates"]) == ["C00001", "C09999"]
    assert client.post("/api/v1/people", json=_person(7), headers=headers).status_code == 201


def test_a_merge_that_fails_removes_what_it_wrote(live, tmp_path, monkeypatch):
    app, headers = live
    write_certificates = merge.write_certificates

    def written_then_failed(job, batch_id):
        write_certificates(job, batch_id)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(merge, "write_certificates", written_then_failed)
    with pytest.raises(RuntimeError):
        _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    with app.app_context():
        session = get_session()
        assert (rows_in(session, Person), rows_in(session, Certificate)) == (0, 0)
        [batch] = session.scalars(sa.select(ImportBatch)).all()
        assert (batch.status, batch.accepted, batch.created) == ("interrupted", 0, 0)
        event = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "import.interrupted")
        ).one()
        assert event.subject == f"import:{batch.id}"
        assert event.data == {"errors": 0, "certificates": 3, "people": 3}
    # The roll imports whole afterwards.
    monkeypatch.undo()
    summary = _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    assert (summary.status, summary.created) == ("accepted", 3)


def test_a_writer_clears_a_merge_cut_off_and_goes_on(live, tmp_path, killed_mid_merge):
    app, headers = live
    with pytest.raises(killed_mid_merge):
        _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    client = app.test_client()
    # Its process is alive: the merge may still finish, so a writer waits.
    assert client.post("/api/v1/people", json=_person(0), headers=headers).status_code == 503
    with app.app_context():
        session = get_session()
        session.execute(sa.update(ImportBatch).values(pid=dead_pid()))
        session.commit()
    # Its process is gone: the writer clears its rows away and registers the person.
    assert client.post("/api/v1/people", json=_person(0), headers=headers).status_code == 201
    with app.app_context():
        session = get_session()
        assert (rows_in(session, Person), rows_in(session, Certificate)) == (1, 0)
        assert session.scalars(sa.select(ImportBatch.status)).all() == ["interrupted"]


def test_a_merge_silent_too_long_is_cut_off(live, tmp_path, killed_mid_merge):
    app, _ = live
    with pytest.raises(killed_mid_merge):
        _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    engine = app.extensions["registry.engine"]
    assert turns.recover_interrupted(engine) == 0  # alive, and beating just now
    with app.app_context():
        session = get_session()
        batch = session.scalars(sa.select(ImportBatch)).one()
        batch.host = "another-host"
        batch.beat_at -= turns.SILENT * 2
        session.commit()
    assert turns.recover_interrupted(engine) == 1
    with app.app_context():
        assert rows_in(get_session(), Person) == 0


def test_an_import_waits_for_the_batch_written_before_it(live, tmp_path, monkeypatch):
    app, _ = live
    with app.app_context():
        session = get_session()
        first = ImportBatch(
            filename="first.csv",
            sha256="0" * 64,
            actor="test",
            status="running",
            host=turns.this_host(),
            pid=os.getpid(),  # alive: the first import is still being written
            beat_at=turns.utcnow(),
        )
        session.add(first)
        session.commit()
        first_id = first.id
    waits = []

    def first_finishes(seconds):
        waits.append(seconds)
        with app.app_context():
            session = get_session()
            session.get(ImportBatch, first_id).status = "accepted"
            session.commit()

    monkeypatch.setattr(merge.time, "sleep", first_finishes)
    summary = _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    assert waits == [merge.TURN_PAUSE_SECONDS]  # it waited once, then had its turn
    assert (summary.status, summary.created) == ("accepted", 3)


def test_hidden_rows_are_left_out_of_every_orm_query_unless_asked_for(live):
    app, _ = live
    with app.app_context():
        session = get_session()
        batch = ImportBatch(filename="r.csv", sha256="0" * 64, actor="test", status="running")
        session.add(batch)
        session.flush()
        sealed = sealed_identity(parse_identity(id_number(1)), "张1", NUMBER_CONTEXT, NAME_CONTEXT)
        person = Person(**sealed, import_batch_id=batch.id)
        session.add(person)
        session.commit()
        person_id = person.id
        session.expunge_all()
        assert session.get(Person, person_id) is None
        assert session.scalars(sa.select(Person.id)).all() == []
        everything = sa.select(Person.id).execution_options(unfinished_rows=True)
        assert session.scalars(everything).all() == [person_id]
        session.get(ImportBatch, batch.id).status = "accepted"
        session.commit()
        assert session.scalars(sa.select(Person.id)).all() == [person_id]
