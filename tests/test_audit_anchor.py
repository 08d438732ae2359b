"""The audit anchor cannot vanish quietly, and signed checkpoints kept off the server
prove the chain still holds what it held: `registry audit verify`, `checkpoint`,
`public-key`, and the audit page."""

import base64
import json
import re
import stat

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import crypto
from registry.audit import (
    ANCHOR_RESTARTED,
    EMPTY_ANCHOR,
    Anchor,
    AuditEvent,
    Checkpoint,
    record_event,
    verify_chain,
)
from registry.auth.models import SystemActor
from tests.auth.conftest import sign_in
from tests.test_cli import _env, _registry

MISSING = "审计锚点文件"


@pytest.fixture
def events(session):
    return [
        record_event(session, SystemActor("test"), "thing.created", f"thing:{n}", {"n": n}).id
        for n in range(4)
    ]


@pytest.fixture
def anchor(tmp_path):
    return tmp_path / "audit-anchor.json"


@pytest.fixture
def verify(run, anchor):
    return lambda *more, **kw: run("audit", "verify", "--anchor", str(anchor), *more, **kw)


def _newest(session) -> AuditEvent:
    session.expire_all()
    return session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


# -- the anchor -------------------------------------------------------------------------


def test_a_registry_in_use_without_its_anchor_fails(verify, anchor, events):
    result = verify()
    assert result.exit_code == 1
    assert f"{MISSING} {anchor} 不见了" in result.output
    assert "--accept-missing-anchor" in result.output and "Traceback" not in result.output
    assert not anchor.exists()  # nothing accepted on its own


def test_deleting_the_anchor_and_the_newest_events_is_caught(verify, anchor, session, events):
    EMPTY_ANCHOR.write(anchor)  # as `registry init` left it
    assert verify().exit_code == 0
    assert Anchor.read(anchor).event_id == events[-1]

    anchor.unlink()
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id >= events[2]))
    assert verify_chain(session)[1] is None  # the chain alone still holds
    result = verify()
    assert result.exit_code == 1 and MISSING in result.output


def test_accepting_a_missing_anchor_is_itself_audited(verify, anchor, session, events):
    before = session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    result = verify("--accept-missing-anchor")
    assert result.exit_code == 0, result.output
    assert f"审计链完好：共 {before + 1} 条事件" in result.output
    event = _newest(session)
    assert event.action == ANCHOR_RESTARTED and event.actor.startswith("cli")
    assert event.data == {"events": before, "newest_event": events[-1], "anchor": str(anchor)}
    kept = Anchor.read(anchor)
    assert (kept.event_id, kept.hash, kept.events) == (event.id, event.hash.hex(), before + 1)
    assert verify().exit_code == 0  # from now on the new anchor is checked


def test_accepting_never_hides_a_broken_chain(verify, anchor, session, events):
    session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[1]).values(actor="x"))
    result = verify("--accept-missing-anchor")
    assert result.exit_code == 1 and f"event {events[1]}" in result.output
    assert not anchor.exists()
    assert _newest(session).action != ANCHOR_RESTARTED


def test_an_unreadable_anchor_fails(verify, anchor, events):
    anchor.write_text('{"event_id": "seven"', encoding="utf-8")
    result = verify()
    assert result.exit_code == 1 and "审计锚点文件无法读取" in result.output
    assert "Traceback" not in result.output


def test_init_starts_the_anchor_and_a_deleted_one_is_found(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    anchor = tmp_path / "instance" / "audit-anchor.json"
    assert Anchor.read(anchor) == EMPTY_ANCHOR  # a new registry, before its first event
    created = _registry(
        env, "users", "create", "--username", "wu.admin", "--role", "admin", input="a pass phrase\n"
    )
    assert created.returncode == 0, created.stderr
    assert _registry(env, "audit", "verify").returncode == 0
    assert Anchor.read(anchor).events == 1

    anchor.unlink()
    again = _registry(env, "init")  # an upgrade never writes a new anchor over a loss
    assert again.returncode == 0 and "--accept-missing-anchor" in again.stderr
    assert not anchor.exists()
    failed = _registry(env, "audit", "verify")
    assert failed.returncode == 1 and MISSING in failed.stderr


# -- checkpoints ------------------------------------------------------------------------


@pytest.fixture
def checkpoint(run, settings, events, tmp_path):
    """A checkpoint of the log as the events left it, written to a file."""
    path, anchor = tmp_path / "checkpoint.json", tmp_path / "checkpoint-anchor.json"
    EMPTY_ANCHOR.write(anchor)
    result = run("audit", "checkpoint", "--output", str(path), "--anchor", str(anchor))
    assert result.exit_code == 0, result.output
    return path


def test_a_checkpoint_is_signed_and_verifies(verify, anchor, checkpoint, session, settings, events):
    key_file = settings.keys_dir / crypto.CHECKPOINT_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    data = json.loads(checkpoint.read_text(encoding="utf-8"))
    newest = _newest(session)
    assert (data["event_id"], data["event_hash"]) == (newest.id, newest.hash.hex())
    assert data["events"] == session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    assert data["format"] == "registry-audit-checkpoint/1" and data["signature"]

    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert f"检查点成立：第 {newest.id} 条事件" in result.output

    # Later events do not disturb it: the chain still holds the checkpointed one.
    record_event(session, SystemActor("test"), "thing.created", "thing:later")
    assert verify("--checkpoint", str(checkpoint)).exit_code == 0


def test_a_checkpoint_goes_to_stdout_by_default(run, anchor, events):
    EMPTY_ANCHOR.write(anchor)
    result = run("audit", "checkpoint", "--anchor", str(anchor))
    assert result.exit_code == 0, result.output
    checkpoint = Checkpoint.loads(result.stdout)
    assert checkpoint.event_id == events[-1]
    assert "请将其保存在本服务器之外" in result.stderr


def test_no_checkpoint_of_a_log_the_anchor_shows_cut_back(run, verify, anchor, session, events):
    checkpoint = ("audit", "checkpoint", "--anchor", str(anchor))
    missing = run(*checkpoint)  # nor while the anchor is missing
    assert missing.exit_code == 1 and MISSING in missing.output and not missing.stdout
    EMPTY_ANCHOR.write(anchor)
    assert verify().exit_code == 0
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[-1]))
    result = run(*checkpoint)
    assert result.exit_code == 1 and "the event last verified is gone" in result.output
    assert '"signature"' not in result.output


@pytest.mark.parametrize(
    ("field", "value"), [("event_hash", "00" * 32), ("events", 1), ("made_at", "2020-01-01")]
)
def test_a_tampered_checkpoint_fails(verify, anchor, checkpoint, field, value):
    data = json.loads(checkpoint.read_text(encoding="utf-8"))
    data[field] = value
    checkpoint.write_text(json.dumps(data), encoding="utf-8")
    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint))
    assert result.exit_code == 1 and "检查点的签名不成立" in result.output


def test_a_checkpoint_checked_against_another_key_fails(verify, anchor, checkpoint, tmp_path):
    other = tmp_path / "other.pub"
    other_key = crypto.raw_public_key(Ed25519PrivateKey.generate())
    other.write_text(base64.b64encode(other_key).decode() + "\n", "ascii")
    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint), "--public-key", str(other))
    assert result.exit_code == 1 and "该检查点由密钥" in result.output


def test_a_checkpoint_re_signed_with_another_key_fails(verify, anchor, checkpoint, run):
    # Whoever rewrites the log and signs a checkpoint of it with a key of their own is
    # caught by the key the verifier kept.
    forged = Checkpoint.make(Anchor(**_fields(checkpoint)), Ed25519PrivateKey.generate())
    checkpoint.write_text(forged.dumps(), encoding="utf-8")
    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint))
    assert result.exit_code == 1 and "该检查点由密钥" in result.output


def _fields(path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"event_id": data["event_id"], "hash": data["event_hash"], "events": data["events"]}


def test_the_printed_public_key_verifies(verify, anchor, checkpoint, run, tmp_path):
    printed = run("audit", "public-key")
    assert printed.exit_code == 0
    kept = tmp_path / "kept.pub"
    kept.write_text(printed.stdout, encoding="ascii")
    assert (
        json.loads(checkpoint.read_text(encoding="utf-8"))["public_key"] == printed.stdout.strip()
    )
    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint), "--public-key", str(kept))
    assert result.exit_code == 0, result.output


def test_a_chain_cut_back_before_the_checkpoint_fails(verify, anchor, checkpoint, session, events):
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id >= events[2]))
    assert verify_chain(session)[1] is None  # the chain alone still holds
    EMPTY_ANCHOR.write(anchor)  # and the anchor was never moved past it
    result = verify("--checkpoint", str(checkpoint))
    assert result.exit_code == 1
    assert f"event {events[-1]}" in result.output and "checkpointed event is gone" in result.output


def test_a_chain_rebuilt_under_the_checkpoint_fails(verify, anchor, checkpoint, session, events):
    from tests.test_audit import _rebuild_chain_from

    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == events[1]).values(subject="thing:forged")
    )
    session.expire_all()
    _rebuild_chain_from(session, events[1])
    assert verify_chain(session)[1] is None
    EMPTY_ANCHOR.write(anchor)
    result = verify("--checkpoint", str(checkpoint))
    assert result.exit_code == 1 and "checkpointed event has another hash" in result.output


def test_a_file_that_is_no_checkpoint_fails(verify, anchor, tmp_path, events):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "registry-audit-checkpoint/1", "event_id": true}', "utf-8")
    result = verify("--checkpoint", str(bad))
    assert result.exit_code == 1 and "不是审计检查点" in result.output
    assert "Traceback" not in result.output


# -- the audit page ---------------------------------------------------------------------


@pytest.fixture
def page(app, make_user, settings):
    """The audit page as a bureau officer reads it; the instance's anchor is removed
    afterwards (other tests expect none)."""
    user, _headers = make_user("bureau")
    browser = app.test_client()
    assert sign_in(browser, user.username).status_code == 302
    anchor = settings.instance_path / "audit-anchor.json"
    anchor.unlink(missing_ok=True)
    yield lambda query="": browser.get(f"/audit{query}").get_data(as_text=True)
    anchor.unlink(missing_ok=True)


def test_the_page_shows_a_missing_anchor_as_a_problem(page, events):
    shown = page()
    assert "审计锚点文件（audit-anchor.json）不见了" in shown
    assert "--accept-missing-anchor" in shown


def test_the_page_verifies_from_the_anchor_on(page, run, settings, session, events):
    anchor = settings.instance_path / "audit-anchor.json"
    assert run("audit", "verify", "--accept-missing-anchor").exit_code == 0
    kept = Anchor.read(anchor)
    for n in range(3):
        record_event(session, SystemActor("test"), "thing.created", f"thing:after-{n}")
    total = session.scalar(sa.select(sa.func.count(AuditEvent.id)))
    shown = page()
    assert MISSING not in shown
    assert f"自锚点第 {kept.event_id} 条记录起核验了其后的 {total - kept.events} 条记录" in shown
    assert f"共 {total} 条" in shown
    full = page("?full=1")
    assert f"已从第一条起核验全部 {total} 条记录" in full

    # An event before the anchor edited behind the registry's back: the walk from the
    # anchor does not read it (the page says so); the full walk finds it.
    session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[0]).values(actor="x"))
    assert "审计链完整" in page()
    assert re.search(f"审计链在第 {events[0]} 条记录处断开", page("?full=1"))


def test_the_page_shows_an_anchor_no_longer_in_the_chain(page, run, settings, session, events):
    assert run("audit", "verify", "--accept-missing-anchor").exit_code == 0
    kept = Anchor.read(settings.instance_path / "audit-anchor.json")
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id >= kept.event_id))
    shown = page()
    assert f"审计链在第 {kept.event_id} 条记录处断开" in shown
    assert "the event last verified is gone" in shown


def test_the_page_shows_an_unreadable_anchor_as_a_problem(page, settings, events):
    (settings.instance_path / "audit-anchor.json").write_text("not an anchor", encoding="utf-8")
    shown = page()
    assert "审计锚点文件（audit-anchor.json）无法读取" in shown
    assert "已从第一条起核验全部" in shown  # the walk falls back to the first event
