import base64
import binascii
from pathlib import Path

import click

from cli.common import CommandError, cli_actor, get_app, session_scope
from registry import crypto
from registry.audit import (
    ANCHOR_RESTARTED,
    Anchor,
    AnchorUnreadable,
    Checkpoint,
    CheckpointUnreadable,
    anchor_needed,
    anchor_path,
    check_anchor,
    check_checkpoint,
    newest_anchor,
    record_event,
    verify_chain,
)
from registry.messages import _


@click.group()
def audit():
    """The hash-chained audit log: verify it, and sign checkpoints to keep elsewhere."""


def _settings():
    return get_app().extensions["registry.settings"]


def _read_anchor(path: Path) -> Anchor | None:
    try:
        return Anchor.read(path)
    except AnchorUnreadable as exc:
        raise CommandError(
            _(
                "the audit anchor cannot be read ({reason}): it was damaged or replaced; "
                "find out why, then remove it and run `registry audit verify "
                "--accept-missing-anchor`",
                reason=exc,
            )
        ) from exc


def _chain_broken(problem, intact: int) -> CommandError:
    return CommandError(
        _(
            "audit chain broken at {problem} ({intact} events before it are intact)",
            problem=problem,
            intact=intact,
        )
    )


class PublicKeyFile(click.Path):
    """A file holding a checkpoint key as `registry audit public-key` prints it."""

    def __init__(self):
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        try:
            key = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
        except (binascii.Error, UnicodeDecodeError):
            key = b""
        if len(key) != 32:
            self.fail(_("{path} holds no Ed25519 public key in base64", path=path), param, ctx)
        return key


def _signed_checkpoint(path: Path, trusted: bytes | None) -> Checkpoint:
    """The checkpoint in ``path``, once its signature holds under the trusted key (the
    one given, else this instance's own)."""
    try:
        checkpoint = Checkpoint.loads(path.read_text(encoding="utf-8"))
    except (CheckpointUnreadable, UnicodeDecodeError) as exc:
        raise CommandError(
            _("{path} is not an audit checkpoint ({reason})", path=path, reason=exc)
        ) from exc
    if trusted is None:
        keys_dir = _settings().keys_dir
        if not (keys_dir / crypto.CHECKPOINT_KEY).exists():
            raise CommandError(
                _(
                    "this instance has no checkpoint key ({path}): give the key the "
                    "checkpoint was made with, --public-key FILE",
                    path=keys_dir / crypto.CHECKPOINT_KEY,
                )
            )
        trusted = crypto.raw_public_key(crypto.checkpoint_signing_key(keys_dir))
    trusted_text = base64.b64encode(trusted).decode("ascii")
    if checkpoint.public_key != trusted_text:
        raise CommandError(
            _(
                "the checkpoint was signed with key {theirs}, not with the key it is checked "
                "against ({ours})",
                theirs=checkpoint.public_key,
                ours=trusted_text,
            )
        )
    if not checkpoint.signed_by(trusted):
        raise CommandError(
            _("the checkpoint's signature does not hold: it was changed after it was signed")
        )
    return checkpoint


def _walk(anchor_file: Path, checkpoint: Checkpoint | None = None):
    """The chain verified from its first event, the anchor and the checkpoint checked:
    how many events hold, the anchor of the newest, and whether an anchor is missing
    that a registry in use must have. A problem raises."""
    anchor = _read_anchor(anchor_file)
    with session_scope() as session:
        # Verifying only reads: on SQLite it must not hold the write lock while it walks
        # the whole log, or every write would wait for it.
        session.connection(execution_options={"registry_writes": False})
        intact, problem = verify_chain(session)
        if problem is None and anchor is not None:
            problem = check_anchor(session, anchor)
        if problem is None and checkpoint:
            problem = check_checkpoint(session, checkpoint)
        if problem is not None:
            raise _chain_broken(problem, intact)
        missing = anchor is None and anchor_needed(session)
        return intact, newest_anchor(session, intact), missing


def _anchor_missing(anchor_file: Path, events: int) -> CommandError:
    return CommandError(
        _(
            "the audit anchor {path} is missing, but this registry is in use ({events} "
            "events): it was deleted, perhaps with the newest events. If you know why, "
            "`registry audit verify --accept-missing-anchor` starts a new one and "
            "records that in the audit log",
            path=anchor_file,
            events=events,
        )
    )


anchor_option = click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where the newest verified event is kept (default: <instance>/audit-anchor.json)",
)


@audit.command("verify")
@anchor_option
@click.option(
    "--accept-missing-anchor",
    is_flag=True,
    help="the anchor is gone and you know why: start a new one (recorded in the audit log)",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a checkpoint made by `registry audit checkpoint`: prove the chain still holds it",
)
@click.option(
    "--public-key",
    "public_key",
    type=PublicKeyFile(),
    help="the checkpoint key as `registry audit public-key` printed it "
    "(default: this instance's own)",
)
def verify(anchor_file, accept_missing_anchor, checkpoint_file, public_key):
    """Walk the audit chain; exit 1 naming the first broken event.

    The newest event of an intact chain is kept in an anchor file outside the database;
    the next run checks that it is still there, unchanged, which shows a chain rebuilt
    or cut back by somebody with write access to the database. A registry in use whose
    anchor is gone fails too, until --accept-missing-anchor starts a new one.
    """
    anchor_file = anchor_file or anchor_path(_settings().instance_path)
    checkpoint = checkpoint_file and _signed_checkpoint(checkpoint_file, public_key)
    intact, newest, missing = _walk(anchor_file, checkpoint)
    if missing and not accept_missing_anchor:
        raise _anchor_missing(anchor_file, intact)
    if missing:
        with session_scope() as session:
            record_event(
                session,
                cli_actor(),
                ANCHOR_RESTARTED,
                "audit:anchor",
                {"events": intact, "newest_event": newest.event_id, "anchor": str(anchor_file)},
            )
            # From the anchor just verified: events written meanwhile are walked too.
            intact, problem = verify_chain(session, since=newest)
            if problem is not None:
                raise _chain_broken(problem, intact)
            newest = newest_anchor(session, intact)
        click.echo(
            _("a new audit anchor was started at event {event}", event=newest.event_id),
            err=True,
        )
    newest.write(anchor_file)
    click.echo(_("audit chain intact: {intact} events", intact=intact))
    if checkpoint:
        click.echo(
            _(
                "checkpoint holds: event {event} ({events} events, {made_at}) is in the chain "
                "with the hash that was signed",
                event=checkpoint.event_id,
                events=checkpoint.events,
                made_at=checkpoint.made_at,
            )
        )


@audit.command("checkpoint")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the checkpoint to this file instead of standard output",
)
@anchor_option
def checkpoint(output, anchor_file):
    """Sign the newest event of the intact chain (id, hash, count, time) with the
    instance's checkpoint key: copy it off the server, daily, and keep it there. The
    chain is verified first, with the anchor, as `verify` does (the anchor stays)."""
    settings = _settings()
    anchor_file = anchor_file or anchor_path(settings.instance_path)
    intact, newest, missing = _walk(anchor_file)
    if missing:
        raise _anchor_missing(anchor_file, intact)
    key = crypto.checkpoint_signing_key(settings.keys_dir)
    if newest.event_id == 0:
        raise CommandError(_("the audit log is empty: there is nothing to checkpoint yet"))
    text = Checkpoint.make(newest, key).dumps() + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    click.echo(
        _(
            "checkpoint of event {event} ({events} events): keep it away from this server",
            event=newest.event_id,
            events=intact,
        ),
        err=True,
    )


@audit.command("public-key")
def public_key():
    """The public key that verifies this registry's checkpoints (base64): keep it with
    them, and give it to `verify --public-key`."""
    key = crypto.checkpoint_signing_key(_settings().keys_dir)
    click.echo(base64.b64encode(crypto.raw_public_key(key)).decode("ascii"))


COMMANDS = (audit,)
