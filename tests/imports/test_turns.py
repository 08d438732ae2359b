"""A roll's merge is written in chunks of short transactions, its rows hidden until the
last one commits; meanwhile other writers go on, except those of people and certificates
(503 busy); a merge that fails or is cut off is cleared away, and imports take turns."""

import dataclasses
import os
import shutil
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
from tests.imports.test_views import upload
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

    def beat_and_look(conn, batch_id, owner):
        with engine.connect() as other:
            seen_by_others.append(
                other.scalar(sa.select(sa.func.count()).select_from(Person.__table__))
            )
        beat(conn, batch_id, owner)

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
    waits = []
    monkeypatch.setattr(merge.time, "sleep", _finished_meanwhile(app, _running_batch(app), waits))
    summary = _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)))
    assert waits == [merge.TURN_PAUSE_SECONDS]  # it waited once, then had its turn
    assert (summary.status, summary.created) == ("accepted", 3)


def _finished_meanwhile(app, batch_id: int, waits: list):
    """A stand-in for ``time.sleep``: the batch waited for finishes during the pause."""

    def sleep(seconds):
        waits.append(seconds)
        with app.app_context():
            session = get_session()
            session.get(ImportBatch, batch_id).status = "accepted"
            session.commit()

    return sleep


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


def test_a_key_rotation_leaves_a_running_merge_alone_and_waits_for_it(live, monkeypatch, tmp_path):
    """The merge goes by the number's index from one chunk to the next: a rotation
    re-keys none of its hidden people, counts them as still to do, and waits for it."""
    from registry.crypto import generate_key
    from registry.keys import services as keys

    app, _ = live
    batch_id = _running_batch(app)
    with app.app_context():
        session = get_session()
        sealed = sealed_identity(parse_identity(id_number(1)), "张1", NUMBER_CONTEXT, NAME_CONTEXT)
        session.add(Person(**sealed, import_batch_id=batch_id))
        session.commit()
        # The registry's keys and a new blind-index key, as a rotation has them (a copy:
        # the suite's keys folder stays as it is).
        keys_dir = shutil.copytree(app.extensions["registry.settings"].keys_dir, tmp_path / "k")
        generate_key(keys_dir, "blind_index")
        keyring = keys.crypto.Keyring.load(keys_dir)
        assert list(keys.rekey(session, keyring, 100)) == []  # nothing re-keyed
        assert keys.pending(session, keyring)["people"] == 1  # but still to do
        session.rollback()
    waits = []
    monkeypatch.setattr(turns.time, "sleep", _finished_meanwhile(app, batch_id, waits))
    told = []
    turns.wait_for_merges(app.extensions["registry.engine"], told=lambda: told.append(1))
    assert (len(waits), told) == (1, [1])


def test_a_merge_taken_over_by_a_recovery_stops_at_its_next_chunk(live, tmp_path, monkeypatch):
    """Judged cut off wrongly (a paused process): the recovery owns the batch now, and the
    merge writes nothing more, leaving the removal to it."""
    app, _ = live
    monkeypatch.setattr(merge, "CHUNK_ROWS", 2)
    write_people = merge.write_people

    def paused_then_go_on(job, batch_id):
        write_people(job, batch_id)
        with app.app_context():  # meanwhile, another process takes the batch over
            session = get_session()
            session.get(ImportBatch, batch_id).owner = turns.new_owner()
            session.commit()

    monkeypatch.setattr(merge, "write_people", paused_then_go_on)
    with pytest.raises(turns.TakenOver):
        _import(app, write_csv(tmp_path / "roll.csv", good_rows(5)))
    with app.app_context():
        session = get_session()
        assert rows_in(session, Certificate) == 0  # no chunk after the take-over
        [batch] = session.scalars(sa.select(ImportBatch)).all()
        assert batch.status == "running" and rows_in(session, Person) == 5
        assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0  # hidden


def test_within_a_request_an_import_waits_for_its_turn_no_longer_than_a_writer_would(
    make_app, scratch_database_url, tmp_path, monkeypatch
):
    app, headers = _live_app(make_app, scratch_database_url)
    app.extensions["registry.settings"] = dataclasses.replace(
        app.extensions["registry.settings"], sqlite_busy_timeout_ms=1
    )
    _running_batch(app)
    monkeypatch.setattr(merge.time, "sleep", lambda seconds: None)
    response = upload(app.test_client(), headers, write_csv(tmp_path / "roll.csv", good_rows(3)))
    assert response.status_code == 503 and response.json["code"] == "busy"
    assert int(response.headers["Retry-After"]) >= 1 and "花名册" in response.json["message"]
    with app.app_context():
        session = get_session()
        assert (rows_in(session, Person), rows_in(session, ImportBatch)) == (0, 1)


def test_a_preview_and_a_refused_file_take_no_turn(live, tmp_path, monkeypatch):
    """They write no person and no certificate: they are recorded while a merge runs."""
    app, _ = live
    _running_batch(app)

    def never(seconds):
        raise AssertionError("waited for the merge")

    monkeypatch.setattr(merge.time, "sleep", never)
    preview = _import(app, write_csv(tmp_path / "roll.csv", good_rows(3)), dry_run=True)
    refused = _import(app, write_csv(tmp_path / "bad.csv", [row(1, issued="2021-02-30")]))
    assert (preview.status, preview.dry_run, refused.status) == ("accepted", True, "rejected")
    assert refused.errors_total == 1


def _running_batch(app) -> int:
    """A roll's merge being written by a live process (this one) elsewhere."""
    with app.app_context():
        session = get_session()
        batch = ImportBatch(
            filename="first.csv",
            sha256="0" * 64,
            actor="test",
            status="running",
            host=turns.this_host(),
            pid=os.getpid(),
            beat_at=turns.utcnow(),
            owner=turns.new_owner(),
        )
        session.add(batch)
        session.commit()
        return batch.id


def test_every_reference_to_people_and_certificates_is_indexed():
    """Removing an interrupted merge's rows checks every foreign key to them: each needs
    an index that starts with it, or every deleted row scans the referring table."""
    from registry.db import Base

    unindexed = [
        f"{table.name}.{fk.parent.name}"
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name in ("people", "certificates")
        and not any(list(ix.columns)[0] is fk.parent for ix in table.indexes)
    ]
    assert unindexed == []
