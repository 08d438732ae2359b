"""How rows are staged fast without changing what is stored: the keyed index and the
encryption made once per key, the forked worker, and a key rotation under way."""

import dataclasses
import os

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import crypto
from registry.auth.models import SystemActor
from registry.credentials.models import Certificate
from registry.identity import parse_identity
from registry.imports import services, staging
from registry.people.models import Person
from registry.people.services import find_person, name_of
from tests.conftest import id_number
from tests.imports.test_services import HEADERS, count, good_rows, row, write_csv


@pytest.fixture(scope="module")
def keyring(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    crypto.generate_missing_keys(keys)
    crypto.generate_key(keys, "blind_index")  # two blind keys: index under either
    return crypto.Keyring.load(keys)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_indexer_is_blind_index(keyring, text):
    for kid in keyring.blind_keys:
        assert keyring.indexer(kid)(text) == keyring.blind_index(text, kid)
    assert keyring.indexer()(text) == keyring.blind_index(text)


def test_encrypter_seals_as_encrypt_does(keyring):
    seal = keyring.encrypter("person.name")
    token = seal("张三")
    assert keyring.decrypt(token, "person.name") == "张三"
    assert token.startswith(crypto.ciphertext_prefix(keyring.active_encryption_kid))
    assert seal("张三") != token  # a fresh nonce every time
    with pytest.raises(crypto.DecryptionError):
        keyring.decrypt(token, "person.id_number")


@pytest.fixture
def importer(app, session):
    def run(path, **options):
        with app.app_context():
            return services.run_import(session, SystemActor("test"), path, **options)

    return run


def _rows_with_errors(n=40):
    rows = [row(i) for i in range(n)]
    rows[3][2] = "厨师证"  # an unknown certificate
    rows[17][1] = rows[16][1]  # a number of the row before, under another name
    rows[30][4] = rows[29][4]  # a certificate of the row before, with other data
    rows[35] = list(rows[34])  # an identical repeat: merged once
    return rows


@pytest.mark.parametrize("partial", [False, True])
def test_a_worker_process_gives_the_same_import(session, importer, tmp_path, monkeypatch, partial):
    monkeypatch.setattr(staging, "BATCH_ROWS", 3)  # many batches, both processes
    path = write_csv(tmp_path / "roll.csv", _rows_with_errors())
    alone = importer(path, dry_run=True, partial=partial, workers=1)
    done = []
    helped = importer(
        path, dry_run=True, partial=partial, workers=2, progress=lambda rows, _: done.append(rows)
    )
    assert helped.as_dict() | {"batch_id": 0} == alone.as_dict() | {"batch_id": 0}
    assert [e["row"] for e in alone.errors] == [5, 18, 19, 31, 32]
    assert done == list(range(3, 40, 3)) + [40]
    summary = importer(path, partial=partial, workers=2)
    assert (summary.rows, summary.rejected) == (40, 5)
    assert count(session, Certificate) == (34 if partial else 0)


def test_a_person_indexed_under_the_previous_key_is_found(
    app, session, importer, tmp_path, make_person, monkeypatch
):
    """During a rotation people not yet re-keyed have an index under the old key."""
    make_person(1, name="张1")
    make_person(2, name="李四")
    with app.app_context():
        current = crypto.current_keyring()
    rotated = dataclasses.replace(
        current,
        blind_keys={**current.blind_keys, "99991231T235959999999Z-ffffff": os.urandom(32)},
        keys_dir=None,
    )
    monkeypatch.setitem(app.extensions, "registry.keyring", rotated)
    summary = importer(write_csv(tmp_path / "roll.csv", good_rows(3)), partial=True)
    assert [(e["row"], e["column"]) for e in summary.errors] == [(4, "id_number")]
    assert "另一个姓名" in summary.errors[0]["message"]  # 张2 is not 李四
    assert (summary.accepted, summary.rejected) == (2, 1)
    assert count(session, Person) == 3  # 张1 found, 张0 new, 张2 refused
    people = session.scalars(sa.select(Person.id_index_kid)).all()
    assert sorted(people).count("99991231T235959999999Z-ffffff") == 1


def test_a_number_on_several_rows_is_registered_once_by_its_first_row(
    app, session, importer, tmp_path
):
    rows = [row(1, name="张１"), row(2), row(1, name="张1", number="C90001")]
    summary = importer(write_csv(tmp_path / "roll.csv", rows, encoding="utf-8"))
    assert (summary.accepted, summary.rejected) == (3, 0)
    assert count(session, Person) == 2
    with app.app_context():
        person = find_person(session, parse_identity(id_number(1)))
        assert name_of(person) == "张１"  # as the first row has it
    numbers = session.scalars(
        sa.select(Certificate.number).where(Certificate.person_id == person.id)
    ).all()
    assert sorted(numbers) == ["C00001", "C90001"]


def test_progress_follows_the_rows_staged_not_the_rows_read_ahead(importer, tmp_path, monkeypatch):
    # The worker's batches are read ahead of those staged: the share of the file said
    # done must be that of the rows staged.
    monkeypatch.setattr(staging, "BATCH_ROWS", 100)
    note = "备注" * 200  # rows of 1 KB: the readers' buffers are a few rows
    rows = [[*row(i), note] for i in range(1000)]
    path = write_csv(tmp_path / "roll.csv", rows, "utf-8", headers=[*HEADERS, "备注"])
    done = []
    importer(path, dry_run=True, workers=2, progress=lambda rows, read: done.append((rows, read)))
    assert [rows for rows, _ in done] == list(range(100, 1001, 100))
    for rows, read in done:
        assert abs(read - rows / 1000) < 0.05, done
