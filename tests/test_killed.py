"""`registry import-roll` and `registry keys rotate` killed with SIGKILL part-way, as a
power cut or an operator's `kill -9` would: nothing half-written, the forked import
worker gone with its parent, the audit chain intact, every lookup answering as before,
and the same command run again completes. Real subprocesses on the database under test.

Each test waits for a sign that the command is under way (the import's worker process,
rows re-keyed in the database), never for a length of time."""

import json
import os
import signal
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.db import make_engine
from registry.identity import gb11643_check_char
from tests.live import REGISTRY, environment, registry, served

HEADERS = ["姓名", "身份证号", "证书名称", "等级", "证书编号", "发证机构", "发证日期", "有效期至"]
ISSUER = "杭州市人力资源和社会保障局"
BARRED = "110105198001010016"
WAIT = 120  # seconds before a test gives up waiting for a sign; never reached when it passes


def _number(i: int) -> str:
    """A valid resident ID number for any ``i``: a thousand to a birth date."""
    born = date(1960, 1, 1) + timedelta(days=i // 1000)
    first17 = f"110105{born:%Y%m%d}{i % 1000:03d}"
    return first17 + gb11643_check_char(first17)


def _roll(path: Path, rows: range) -> Path:
    lines = [",".join(HEADERS)]
    lines += [f"张{i},{_number(i)},保育师,四级,C{i:07d},{ISSUER},2021-03-05," for i in rows]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _counts(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                for table in ("people", "certificates", "import_batches", "import_errors")
            }
    finally:
        engine.dispose()


def _lookups(env) -> list[tuple[int, str]]:
    """What the hiring check answers for a barred number, one registered, one unknown."""
    answers = []
    for number in (BARRED, _number(1), _number(999_999)):
        done = subprocess.run(
            [REGISTRY, "bans", "check", "--id-number", number],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        answers.append((done.returncode, done.stdout.strip()))
    return answers


def _seeded(tmp_path, url) -> dict:
    env = environment(tmp_path / "instance", url)
    registry(env, "init")
    registry(env, "import-roll", str(_roll(tmp_path / "first.csv", range(5))))
    registry(env, "bans", "add", "--id-number", BARRED, "--name", "某甲",
             "--category", "abuse", "--authority", "杭州市西湖区卫生健康局",
             "--decision-no", "西卫禁〔2026〕3号", "--effective-on", "2025-01-01")  # fmt: skip
    return env


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended while we looked
            # pid (comm) state ppid …: comm may hold spaces and parentheses.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet (it holds nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _wait_for(condition, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + WAIT
    while not (found := condition()):
        assert process is None or process.poll() is None, f"ended before {what}"
        assert time.monotonic() < deadline, f"no sign of {what}"
        time.sleep(0.01)
    return found


def _after_the_kill(env, url, before: dict, answers: list) -> None:
    assert _counts(url) == before  # nothing of the killed command was written
    verified = registry(env, "audit", "verify")
    assert "audit chain intact" in verified.stdout
    assert _lookups(env) == answers
    with served(env, workers=1):
        pass  # the registry starts: it answered its OpenAPI document


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="the import forks its worker only with two cores"
)
def test_killed_import_takes_its_worker_and_leaves_nothing(tmp_path, scratch_database_url):
    url = scratch_database_url
    env = _seeded(tmp_path, url)
    before, answers = _counts(url), _lookups(env)
    roll = _roll(tmp_path / "big.csv", range(1000, 31_000))
    with open(tmp_path / "import.out", "wb") as out:
        importing = subprocess.Popen(
            [REGISTRY, "import-roll", str(roll)], env=env, stdout=out, stderr=out
        )
        try:
            [worker] = _wait_for(lambda: _children(importing.pid), "a worker", importing)
            os.kill(importing.pid, signal.SIGKILL)
            assert importing.wait(timeout=WAIT) == -signal.SIGKILL
        finally:
            importing.kill()
            importing.wait()
    _wait_for(lambda: _gone(worker), "the worker ending")

    _after_the_kill(env, url, before, answers)
    again = registry(env, "import-roll", str(roll))
    assert "rows 30000  accepted 30000" in again.stdout
    assert _counts(url)["certificates"] == before["certificates"] + 30_000


def _running_batch_with_people(url: str, people_before: int) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            running = conn.scalar(
                sa.text("SELECT count(*) FROM import_batches WHERE status = 'running'")
            )
            people = conn.scalar(sa.text("SELECT count(*) FROM people"))
    finally:
        engine.dispose()
    return running == 1 and people > people_before


def _search(env, name: str) -> list:
    found = registry(env, "people", "search", "--name", name, "--format", "json")
    return json.loads(found.stdout)["people"]


def test_import_killed_in_its_merge_stays_hidden_and_is_cleared_at_the_start(
    tmp_path, scratch_database_url
):
    """Killed between two chunks of its merge: the rows it wrote are in the database but
    nobody sees them; the server's start removes them and marks the batch interrupted."""
    url = scratch_database_url
    env = _seeded(tmp_path, url)
    before, answers = _counts(url), _lookups(env)
    roll = _roll(tmp_path / "big.csv", range(1000, 61_000))  # six chunks of people
    with open(tmp_path / "import.out", "wb") as out:
        importing = subprocess.Popen(
            [REGISTRY, "import-roll", str(roll)], env=env, stdout=out, stderr=out
        )
        try:
            _wait_for(
                lambda: _running_batch_with_people(url, before["people"]),
                "people of a running batch",
                importing,
            )
            os.kill(importing.pid, signal.SIGKILL)
            assert importing.wait(timeout=WAIT) == -signal.SIGKILL
        finally:
            importing.kill()
            importing.wait()
    written = _counts(url)
    assert written["people"] > before["people"]  # written, and hidden:
    assert _search(env, "张1000") == [] and _lookups(env) == answers
    with served(env, workers=1):
        pass  # the server's start recovers the batch
    after = _counts(url)
    assert after == {**before, "import_batches": before["import_batches"] + 1}
    assert "audit chain intact" in registry(env, "audit", "verify").stdout
    again = registry(env, "import-roll", str(roll))
    assert "rows 60000  accepted 60000" in again.stdout
    assert len(_search(env, "张1000")) == 1


def test_killed_key_rotation_continues_where_it_stopped(tmp_path, scratch_database_url):
    url = scratch_database_url
    env = _seeded(tmp_path, url)
    registry(env, "import-roll", str(_roll(tmp_path / "more.csv", range(1000, 4000))))
    before, answers = _counts(url), _lookups(env)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            [old_kid] = conn.scalars(sa.text("SELECT DISTINCT id_index_kid FROM people")).all()

        def rekeyed() -> int:
            with engine.connect() as conn:
                return conn.scalar(
                    sa.text("SELECT count(*) FROM people WHERE id_index_kid <> :old"),
                    {"old": old_kid},
                )

        with open(tmp_path / "rotate.out", "wb") as out:
            rotating = subprocess.Popen(
                [REGISTRY, "keys", "rotate", "--grace", "0", "--batch", "20"],
                env=env,
                stdout=out,
                stderr=out,
            )
            try:
                _wait_for(rekeyed, "rows re-keyed", rotating)
                os.kill(rotating.pid, signal.SIGKILL)
                assert rotating.wait(timeout=WAIT) == -signal.SIGKILL
            finally:
                rotating.kill()
                rotating.wait()
        part_way = rekeyed()
        assert 0 < part_way < before["people"]  # killed in the middle, by batches

        _after_the_kill(env, url, before, answers)
        again = registry(env, "keys", "rotate", "--grace", "0")
        assert "continuing a rotation" in again.stdout
        assert "retired blind_index key" in again.stdout
        with engine.connect() as conn:
            kids = conn.scalars(sa.text("SELECT DISTINCT id_index_kid FROM people")).all()
        assert kids and old_kid not in kids
    finally:
        engine.dispose()
    assert _lookups(env) == answers  # under the new keys too
    assert "audit chain intact" in registry(env, "audit", "verify").stdout
