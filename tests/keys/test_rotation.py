"""Key rotation keeps every answer right: before, while rows stand under two keys, and
after the old keys are retired; and running apps pick up new and retired keys by
themselves. On a database of its own, committed for real, batch by batch."""

import logging
import threading
from collections import Counter
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from cli.common import RegistryGroup
from cli.keys import keys
from migrations import alembic_config
from registry import clock, crypto, models
from registry.audit import verify_chain
from registry.auth import services as auth
from registry.auth.models import SystemActor
from registry.bans import services as bans
from registry.bans.models import BanCheck
from registry.config import BUDGETS
from registry.db import Base, command_transaction, get_session, utcnow
from registry.institutions import services as institutions
from registry.keys import matching, services
from registry.people.models import Person
from registry.staffing.models import Employment
from tests.conftest import CODES, id_number

# Key rotation tests ask many questions: no budget to run out of.
UNLIMITED = {role: (0, 0) for role in BUDGETS}

TODAY = clock.today()
PERSON_AND_BAN = id_number(1)
BAN_ONLY = id_number(2)
REVOKED = id_number(3)  # registered, banned, ban revoked
BANNED_TWICE = id_number(4)  # a revoked ban and an active one
PERSON_ONLY = id_number(5)
NEVER_SEEN = id_number(7)  # only checked, by nobody registered or banned
CHECKED_ONLY = id_number(9)  # only checked, before and during the rotation
LEGACY = "11010519491231002X"  # banned; checked by its 15-digit form too
BARRED = (PERSON_AND_BAN, BAN_ONLY, BANNED_TWICE, LEGACY)
CLEAR = (REVOKED, PERSON_ONLY, NEVER_SEEN, CHECKED_ONLY)
PASSWORD = "correct horse battery"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def forms(number: str) -> list[str]:
    """The ways a director may type a number."""
    typed = [
        number,
        number.lower(),
        _fullwidth(number),
        " ".join(number[i : i + 4] for i in range(0, 18, 4)),
        f"{number[:6]}-{number[6:14]}-{number[14:]}",
    ]
    if number == LEGACY:
        typed.append(number[:6] + number[8:17])
    return typed


@pytest.fixture
def keys_dir(tmp_path):
    crypto.generate_missing_keys(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def reload_at_once(monkeypatch):
    """Apps look at their key files on every use, not at most once a second."""
    monkeypatch.setattr(crypto, "RELOAD_INTERVAL", 0)


@dataclass
class Live:
    """An app on a database of its own, with a bureau and a director, and a tally of
    the checks it made of each number."""

    app: object
    url: str
    bureau: dict
    director: dict
    checks: Counter

    def check(self, typed: str, client=None) -> str:
        client = client or self.app.test_client()
        response = client.post(
            "/api/v1/ban-checks", json={"id_number": typed}, headers=self.director
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["result"]

    def answers_right(self, app=None, step=None) -> None:
        """Every barred number barred and every clear one clear; in every typed form, or
        in the form ``step`` picks."""
        client = (app or self.app).test_client()
        for number in BARRED + CLEAR:
            typed = forms(number)
            for form in typed if step is None else [typed[step % len(typed)]]:
                expected = "barred" if number in BARRED else "clear"
                assert self.check(form, client) == expected, (number, form)
                self.checks[number] += 1


def _token_headers(session, username, role, institution=None) -> dict:
    data = {"username": username, "password": PASSWORD, "role": role, "institution": institution}
    user = auth.create_user(session, SystemActor("test"), data)
    return {"Authorization": f"Bearer {auth.create_token(session, SystemActor('test'), user)}"}


@pytest.fixture
def live(make_app, scratch_database_url, keys_dir, reload_at_once):
    command.upgrade(alembic_config(scratch_database_url), "head")
    app = make_app(database_url=scratch_database_url, keys_dir=keys_dir, budgets=UNLIMITED)
    with app.app_context():
        session = get_session()
        institutions.create_institution(
            session,
            SystemActor("test"),
            {"code": CODES[0], "name": "西湖区第一托育园", "district": "西湖区"},
        )
        live = Live(
            app,
            scratch_database_url,
            _token_headers(session, "bureau", "bureau"),
            _token_headers(session, "director", "director", CODES[0]),
            Counter(),
        )
        session.commit()
    _populate(live)
    return live


def _populate(live: Live) -> None:
    client = live.app.test_client()

    def post(url, body, status=201):
        response = client.post(url, json=body, headers=live.bureau)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def person(number, name):
        body = {"id_number": number, "name": name, "education": "bachelor", "experience": []}
        return post("/api/v1/people", body)["id"]

    def ban(number, name="张某"):
        body = {
            "id_number": number,
            "name": name,
            "category": "abuse",
            "authority": "杭州市西湖区卫生健康局",
            "decision_no": "西卫禁〔2026〕3号",
            "effective_on": "2026-01-01",
        }
        return post("/api/v1/bans", body)["id"]

    employed = [
        person(PERSON_AND_BAN, "王芳"),
        person(REVOKED, "李娜"),
        person(PERSON_ONLY, "赵敏"),
    ]
    with live.app.app_context():
        session = get_session()
        institution = institutions.get_institution(session, CODES[0])
        for public_id in employed:  # the API names people by public id
            person_id = session.scalar(sa.select(Person.id).where(Person.public_id == public_id))
            session.add(
                Employment(
                    person_id=person_id,
                    institution_id=institution.id,
                    role="cook",
                    start=TODAY,
                    declaration_at=utcnow(),
                )
            )
        session.commit()
    ban(PERSON_AND_BAN)
    ban(BAN_ONLY, "陈某")
    post(f"/api/v1/bans/{ban(REVOKED)}/revoke", {"reason": "复议撤销"}, 200)
    post(f"/api/v1/bans/{ban(BANNED_TWICE)}/revoke", {"reason": "复议撤销"}, 200)
    ban(BANNED_TWICE)
    ban(LEGACY)


def _rescreen_finds_the_banned_employee(app) -> None:
    """The re-screen joins people to bans on the index itself: it must not miss a hit
    while the rows stand under two keys."""
    with app.app_context():
        session = get_session()
        report = bans.rescreen(session, SystemActor("test"), TODAY)
        session.rollback()
    assert len(report["barred"]) == 1 and report["employments"] == 3


def _dump(app) -> dict[str, list[tuple]]:
    """Every row of every table, as a database dump holds them."""
    assert models.Person is Person  # every model is in Base.metadata
    with app.app_context():
        session = get_session()
        return {
            table.name: [tuple(row) for row in session.execute(sa.select(table))]
            for table in Base.metadata.sorted_tables
        }


def _mentions(value, needles) -> bool:
    if isinstance(value, bytes):
        return any(n in value for n in needles)
    if isinstance(value, str):
        return any(n.decode("ascii", "replace") in value for n in needles)
    if isinstance(value, dict | list):
        return _mentions(repr(value), needles)
    return False


def _who_checked(live: Live, number: str, app=None) -> int:
    response = (
        (app or live.app)
        .test_client()
        .post("/api/v1/ban-checks/for-person", json={"id_number": number}, headers=live.bureau)
    )
    assert response.status_code == 200
    return len(response.get_json())


def _lookup(live: Live, number: str, app) -> dict:
    response = app.test_client().post(
        "/api/v1/people/lookup", json={"id_number": number.lower()}, headers=live.director
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_checks_answer_right_before_during_and_after(live, keys_dir, make_app):
    old = crypto.Keyring.load(keys_dir)
    old_kids = [old.active_blind_kid.encode(), old.active_encryption_kid.encode()]
    live.answers_right()  # before: these checks are under the old key
    _rescreen_finds_the_banned_employee(live.app)
    checked_before = live.checks.copy()
    with live.app.app_context():
        session = get_session()
        old_indexes = {
            index
            for model in (Person, bans.Ban, BanCheck)
            for index in session.scalars(sa.select(model.id_index))
        }

    made = services.prepare_keys(keys_dir)
    assert list(made) == ["encryption", "blind_index"]
    keyring = crypto.Keyring.load(keys_dir)
    assert len(keyring.blind_keys) == len(keyring.encryption_keys) == 2
    live.answers_right(step=0)
    with live.app.app_context():  # the running app loaded the new keys by itself
        assert set(crypto.current_keyring().blind_keys) == set(keyring.blind_keys)

    # One row a batch, committed; checks and the re-screen between every two batches.
    steps = Counter()
    with live.app.extensions["registry.sessionmakers"]["write"]() as session:
        for step, batch in enumerate(services.rekey(session, keyring, 1), start=1):
            session.commit()
            steps[batch.table] += batch.rows
            live.answers_right(step=step)
            _rescreen_finds_the_banned_employee(live.app)
        assert services.pending(session, keyring) == {"people": 0, "bans": 0, "person_history": 0}
        unmatched = services.checks_under_old_keys(session, keyring)
        session.rollback()
    assert steps == {"people": 3, "bans": 6}
    # Checks of numbers nobody registered or banned stay under the old key.
    expected_unmatched = checked_before[NEVER_SEEN] + checked_before[CHECKED_ONLY]
    assert unmatched == {old.active_blind_kid: expected_unmatched}

    retired = services.retire_old_keys(keys_dir, services.Targets.of(keyring))
    assert sorted((purpose, kid) for purpose, kid, _ in retired) == sorted(
        [("blind_index", old.active_blind_kid), ("encryption", old.active_encryption_kid)]
    )
    for purpose, kid, path in retired:
        assert path.parent == keys_dir / "retired" / purpose and path.exists()
        assert not list((keys_dir / purpose).glob(f"{kid}*"))
    fresh_keys = crypto.Keyring.load(keys_dir)
    assert (list(fresh_keys.blind_keys), list(fresh_keys.encryption_keys)) == (
        [keyring.active_blind_kid],
        [keyring.active_encryption_kid],
    )

    # After: the running app drops the old keys; an app started afresh has only the new.
    live.answers_right()
    with live.app.app_context():
        assert list(crypto.current_keyring().blind_keys) == [keyring.active_blind_kid]
    fresh = make_app(database_url=live.url, keys_dir=keys_dir, budgets=UNLIMITED)
    live.answers_right(fresh)
    _rescreen_finds_the_banned_employee(fresh)
    assert _lookup(live, PERSON_AND_BAN, fresh)["name"] == "王芳"
    assert _lookup(live, PERSON_ONLY, fresh)["name"] == "赵敏"
    with fresh.app_context():
        session = get_session()
        described = [
            bans.describe_ban(ban)["name"]
            for ban in session.scalars(sa.select(bans.Ban).order_by(bans.Ban.id))
        ]
    assert described == ["张某", "陈某", "张某", "张某", "张某", "张某"]
    # Who checked me: every check of a registered or banned number, re-keyed ones too;
    # of the others only those made since the new key (the old ones are lost by number).
    for number in BARRED + (REVOKED, PERSON_ONLY):
        assert _who_checked(live, number, fresh) == live.checks[number], number
    for number in (NEVER_SEEN, CHECKED_ONLY):
        assert _who_checked(live, number, fresh) == live.checks[number] - checked_before[number]

    # The command records the new keys' check values with the rotation (an app started
    # before that, as above, finds the old keys it recorded among the retired ones).
    with live.app.app_context(), command_transaction() as session:
        matching.record(session, keys_dir)
    # A dump holds nothing under the old keys but the checks nobody could re-key.
    left = []
    for table, rows in _dump(fresh).items():
        for row in rows:
            if any(
                _mentions(v, old_kids) or (isinstance(v, bytes) and v in old_indexes) for v in row
            ):
                left.append(table)
    assert left == ["ban_checks"] * expected_unmatched


def _cli(live: Live, *args):
    group = RegistryGroup(commands=[keys])
    return CliRunner().invoke(group, ["keys", "rotate", "--grace", "0", *args], obj=live.app)


def _key_files(keys_dir, purpose) -> list[str]:
    return sorted(p.name for p in (keys_dir / purpose).glob("*.*"))


def test_the_rotate_command(live, keys_dir, make_app):
    live.answers_right()
    old = crypto.Keyring.load(keys_dir)
    receipts_before = _key_files(keys_dir, "receipts")
    result = _cli(live, "--batch", "2")
    assert result.exit_code == 0, result.output
    new = crypto.Keyring.load(keys_dir)
    out = result.stdout
    assert (
        f"new keys: encryption {new.active_encryption_kid}, "
        f"blind_index {new.active_blind_kid}" in out
    )
    unmatched = 2 * len(forms(NEVER_SEEN))  # NEVER_SEEN and CHECKED_ONLY, every form
    assert "re-keyed people: 3 rows" in out and "re-keyed bans: 6 rows" in out
    assert f"re-keyed ban_checks: {sum(live.checks.values()) - unmatched} rows" in out
    assert f"checks not re-keyed: {unmatched} " in out and old.active_blind_kid in out
    for purpose, kid in [
        ("encryption", old.active_encryption_kid),
        ("blind_index", old.active_blind_kid),
    ]:
        path = keys_dir / "retired" / purpose / f"{kid}.key"
        assert f"retired {purpose} key {kid} to {path}" in out and path.exists()
    assert "back up the new keys now" in out
    assert str(keys_dir / "blind_index" / new.active_blind_kid) in out
    # Receipt keys stay: receipts already handed out must keep verifying.
    assert _key_files(keys_dir, "receipts") == receipts_before
    live.answers_right(make_app(database_url=live.url, keys_dir=keys_dir, budgets=UNLIMITED))
    with live.app.app_context():
        session = get_session()
        event = session.scalar(
            sa.select(models.AuditEvent).where(models.AuditEvent.action == "keys.rotated")
        )
        assert event.data["retired"] == {
            "encryption": [old.active_encryption_kid],
            "blind_index": [old.active_blind_kid],
        }
        assert event.data["rows"]["people"] == 3
        assert verify_chain(session)[1] is None
        # The check values follow the keys: the new ones, not the retired.
        stored = matching.stored_values(session)
        assert stored == matching.current_values(keys_dir)
        assert set(stored["blind_index"]) == {new.active_blind_kid}

    # The next rotation starts afresh, from the keys the last one made.
    again = _cli(live)
    assert again.exit_code == 0, again.output
    assert "new keys: encryption" in again.stdout and "re-keyed people: 3 rows" in again.stdout
    live.answers_right()


def test_an_interrupted_rotation_continues_to_the_same_keys(live, keys_dir):
    old = crypto.Keyring.load(keys_dir)
    made = services.prepare_keys(keys_dir)
    keyring = crypto.Keyring.load(keys_dir)
    with live.app.extensions["registry.sessionmakers"]["write"]() as session:
        walk = services.rekey(session, keyring, 1)
        next(walk)
        session.commit()
        next(walk)
        session.rollback()  # killed in the middle of the second batch
    live.answers_right()
    result = _cli(live)
    assert result.exit_code == 0, result.output
    assert (
        f"continuing a rotation to blind_index {made['blind_index']}, "
        f"encryption {made['encryption']}" in result.stdout
    )
    assert "re-keyed people: 2 rows" in result.stdout  # the committed batch stays done
    assert _key_files(keys_dir, "blind_index") == [f"{made['blind_index']}.key"]
    assert _key_files(keys_dir, "encryption") == [f"{made['encryption']}.key"]
    assert (keys_dir / "retired" / "blind_index" / f"{old.active_blind_kid}.key").exists()
    live.answers_right()


def test_stopped_between_making_the_two_keys_makes_the_second(live, keys_dir):
    encryption = crypto.generate_key(keys_dir, "encryption")
    result = _cli(live)
    assert result.exit_code == 0, result.output
    new = crypto.Keyring.load(keys_dir)
    assert f"new keys: blind_index {new.active_blind_kid}" in result.stdout
    assert list(new.encryption_keys) == [encryption]
    live.answers_right()


def test_a_row_that_cannot_be_rekeyed_stops_the_rotation_before_retiring(live, keys_dir):
    with live.app.app_context():
        session = get_session()
        person_id = session.scalar(sa.select(sa.func.max(Person.id)))
        session.execute(
            sa.update(Person).where(Person.id == person_id).values(name_enc=b"\x01\x02broken")
        )
        session.commit()
    result = _cli(live)
    assert result.exit_code == 1
    assert f"people {person_id}: cannot decrypt" in result.output
    assert "nothing was retired" in result.output and "Traceback" not in result.output
    assert len(_key_files(keys_dir, "blind_index")) == 2
    assert not (keys_dir / "retired").exists()
    live.answers_right()  # rows re-keyed before the broken one, and the rest, still found


def test_two_people_with_one_number_stop_the_rotation(live, keys_dir):
    services.prepare_keys(keys_dir)
    keyring = crypto.Keyring.load(keys_dir)
    # A writer that held only the new key registered the number a second time.
    with live.app.app_context():
        session = get_session()
        first = session.scalar(sa.select(Person).order_by(Person.id).limit(1))
        number = keyring.decrypt(first.id_number_enc, "person.id_number")
        duplicate = Person(
            id_type=first.id_type,
            id_index=keyring.blind_index(f"gb11643:{number}"),
            id_index_kid=keyring.active_blind_kid,
            id_number_enc=keyring.encrypt(number, "person.id_number"),
            name_enc=keyring.encrypt("王芳", "person.name"),
        )
        session.add(duplicate)
        session.commit()
        with pytest.raises(services.RotationError, match=f"people {first.id} and {duplicate.id}"):
            list(services.rekey(session, keyring, 10))
        session.rollback()


def test_only_one_rotation_at_a_time(keys_dir):
    with services.exclusive(keys_dir):
        with pytest.raises(services.RotationError, match="another key rotation is running"):
            with services.exclusive(keys_dir):
                pass
    with services.exclusive(keys_dir):
        pass


# -- running apps pick up new and retired keys -------------------------------------------


@pytest.fixture
def keys_app(make_app, keys_dir, scratch_database_url):
    # A database of its own: the shared one was written with other keys, and refuses these.
    return make_app(keys_dir=keys_dir, database_url=scratch_database_url)


def test_a_running_app_loads_new_keys_and_drops_retired_ones(keys_app, keys_dir, reload_at_once):
    with keys_app.app_context():
        old = crypto.current_keyring()
        new = crypto.generate_key(keys_dir, "blind_index")
        assert set(crypto.current_keyring().blind_keys) == {old.active_blind_kid, new}
        assert crypto.current_keyring().active_blind_kid == new
        crypto.retire_key(keys_dir, "blind_index", old.active_blind_kid)
        assert list(crypto.current_keyring().blind_keys) == [new]
        assert crypto.current_keyring().signing_keys.keys() == old.signing_keys.keys()
    # The retired folder at the root of the keys folder is never loaded.
    assert list(crypto.Keyring.load(keys_dir).blind_keys) == [new]


def test_an_app_looks_at_its_key_files_at_most_once_a_second(keys_app, keys_dir, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(crypto, "_clock", lambda: now[0])
    with keys_app.app_context():
        old = crypto.current_keyring()
        new = crypto.generate_key(keys_dir, "encryption")
        now[0] += 0.5
        assert crypto.current_keyring() is old
        now[0] += 0.6
        assert crypto.current_keyring().active_encryption_kid == new
        reloaded = crypto.current_keyring()
        now[0] += 5
        assert crypto.current_keyring() is reloaded  # nothing changed: nothing loaded


def test_a_key_that_fails_to_load_keeps_the_keys_in_use(
    keys_dir, keys_app, caplog, monkeypatch, tmp_path
):
    now = [1000.0]
    monkeypatch.setattr(crypto, "_clock", lambda: now[0])
    caplog.set_level(logging.INFO, logger="registry.crypto")
    # A key being written by hand: the file is there, its content not yet.
    path = keys_dir / "blind_index" / "20991231T235959000000Z-abcdef.key"
    with keys_app.app_context():
        old = crypto.current_keyring()
        path.touch(mode=0o600)
        now[0] += 2
        assert crypto.current_keyring() is old
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and path.name in warnings[0].getMessage()
        now[0] += 2
        assert crypto.current_keyring() is old
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        secret = crypto.generate_key(tmp_path / "elsewhere", "blind_index")
        data = (tmp_path / "elsewhere" / "blind_index" / f"{secret}.key").read_bytes()
        path.write_bytes(data[:20])  # half of it: still no key
        now[0] += 2
        assert crypto.current_keyring() is old
        path.write_bytes(data)
        now[0] += 2
        assert crypto.current_keyring().active_blind_kid == "20991231T235959000000Z-abcdef"
    text = caplog.text
    assert data.strip().decode() not in text and data[:20].decode() not in text


def test_reloading_is_safe_across_threads(keys_app, keys_dir, reload_at_once):
    errors = []
    stop = threading.Event()

    def use_keys():
        with keys_app.app_context():
            while not stop.is_set():
                try:
                    crypto.current_keyring().blind_index("gb11643:" + id_number(1))
                except Exception as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=use_keys) for _ in range(8)]
    for t in threads:
        t.start()
    made = [crypto.generate_key(keys_dir, "blind_index") for _ in range(5)]
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    with keys_app.app_context():
        assert crypto.current_keyring().active_blind_kid == made[-1]


def test_keys_only_makes_the_keys_and_the_next_run_uses_them(live, keys_dir):
    first = _cli(live, "--keys-only")
    assert first.exit_code == 0, first.output
    assert "then run `registry keys rotate` again" in first.stdout
    keyring = crypto.Keyring.load(keys_dir)
    with live.app.app_context():
        assert services.pending(get_session(), keyring) == {
            "people": 3,
            "bans": 6,
            "person_history": 0,
        }
    live.answers_right()
    second = _cli(live)
    assert second.exit_code == 0, second.output
    assert "continuing a rotation to blind_index " + keyring.active_blind_kid in second.stdout
    assert list(crypto.Keyring.load(keys_dir).blind_keys) == [keyring.active_blind_kid]
    live.answers_right()


def test_names_are_reindexed_and_history_names_reencrypted(live, keys_dir, make_app):
    client = live.app.test_client()
    with live.app.app_context():
        session = get_session()
        li_na = session.scalars(sa.select(Person).order_by(Person.id)).all()[1]
        wang = session.scalars(sa.select(Person).order_by(Person.id)).all()[0]
        # A row from before name search: no name index yet.
        session.execute(
            sa.update(Person)
            .where(Person.id == li_na.id)
            .values(name_index=None, name_index_kid=None)
        )
        session.commit()
    corrected = client.patch(
        f"/api/v1/people/{wang.public_id}",
        json={"reason": "更正姓名", "name": "王芳芳"},
        headers=live.bureau,
    )
    assert corrected.status_code == 200, corrected.get_json()

    result = _cli(live, "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "re-keyed person_history: 1 rows" in result.stdout

    fresh = make_app(database_url=live.url, keys_dir=keys_dir, budgets=UNLIMITED)
    new = crypto.Keyring.load(keys_dir)
    with fresh.app_context():
        session = get_session()
        kids = set(session.scalars(sa.select(Person.name_index_kid)))
        assert kids == {new.active_blind_kid}
    search = fresh.test_client()

    def found(name):
        response = search.post("/api/v1/people/search", json={"name": name}, headers=live.bureau)
        assert response.status_code == 200, response.get_json()
        return [p["id"] for p in response.get_json()["people"]]

    assert found("李娜") == [li_na.public_id]  # indexed by the rotation
    assert found("王芳芳") == [wang.public_id] and found("王芳") == []
    history = search.get(f"/api/v1/people/{wang.public_id}/history", headers=live.bureau).get_json()
    assert history[0]["previous_name"] == "王芳"  # readable under the new key alone
