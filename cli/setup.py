import click

from registry import create_app, crypto
from registry.config import ConfigError, load_settings
from registry.db import command_transaction, make_engine
from registry.imports.jobs import fail_interrupted, forget_uploads
from registry.imports.turns import recover_interrupted
from registry.keys import matching
from registry.messages import _


@click.command()
def init():
    """Create or upgrade the database to the latest migration; create keys if missing."""
    from alembic import command

    from migrations import alembic_config

    settings = load_settings()
    settings.instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    missing = crypto.missing_purposes(settings.keys_dir)
    if missing and settings.production:
        raise ConfigError(
            _(
                "no {keys} key in {folder}; production never generates keys: install them there",
                keys=", ".join(missing),
                folder=settings.keys_dir,
            )
        )
    lost = set(missing) & {"blind_index", "encryption"}
    revision = _current_revision(settings.database_url) if lost else None
    if revision is not None:
        # New keys for a database written with others would leave every stored number
        # unreadable and every ban unmatchable: barred people would check clear.
        raise ConfigError(
            _(
                "the database (at migration {revision}) was written with {keys} keys that are "
                "not in {folder}; restore them from the backup instead of generating new ones",
                revision=revision,
                keys=", ".join(sorted(lost)),
                folder=settings.keys_dir,
            )
        )
    for purpose in crypto.generate_missing_keys(settings.keys_dir):
        click.echo(
            _(
                "created {purpose} key in {folder}",
                purpose=purpose,
                folder=settings.keys_dir / purpose,
            )
        )
    app = create_app(settings)  # the same checks as serving: keys readable, settings sound
    command.upgrade(alembic_config(settings.database_url), "head")
    click.echo(
        _("database is at the latest migration: {url}", url=_safe_url(settings.database_url))
    )
    # The check value of the keys, stored once: from now on every start compares.
    matching.check_database(app.extensions["registry.engine"], app.extensions["registry.keyring"])
    indexed = _index_names(app)
    if indexed:
        click.echo(_("indexed the names of {count} people", count=indexed))
    _start_audit_anchor(app, settings)


def _start_audit_anchor(app, settings) -> None:
    """A new registry's anchor is written here, before its first event, so that from
    then on an anchor that is gone is a finding of `registry audit verify`."""
    from registry.audit import EMPTY_ANCHOR, anchor_needed, anchor_path

    path = anchor_path(settings.instance_path)
    if path.exists():
        return
    with app.app_context(), command_transaction() as session:
        needed = anchor_needed(session)
    app.extensions["registry.engine"].dispose()
    if not needed:
        EMPTY_ANCHOR.write(path)
        return
    click.echo(
        _(
            "the audit anchor {path} is missing: `registry audit verify` fails until it is "
            "run once with --accept-missing-anchor",
            path=path,
        ),
        err=True,
    )


def _index_names(app) -> int:
    """Names of people registered before search by name existed: a migration cannot
    reach the keys, so the index is filled here (``registry people reindex-names``)."""
    from registry.db import get_session
    from registry.people.services import fill_name_indexes

    total = 0
    with app.app_context():
        session = get_session()
        while filled := fill_name_indexes(session):
            session.commit()  # one transaction a batch, as key rotation does
            total += filled
    app.extensions["registry.engine"].dispose()
    return total


def _current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--timeout",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds a request may run before its worker is stopped (answered 503).",
)
@click.option(
    "--access-log", default="-", show_default=True, help="File for the access log; - is stdout."
)
@click.option(
    "--error-log", default="-", show_default=True, help="File for the error log; - is stderr."
)
def serve(host, port, workers, timeout, access_log, error_log):
    """Serve the web pages and the API with gunicorn."""
    from gunicorn.app.base import BaseApplication

    from registry import serving

    app = create_app()  # fail here, not in every worker
    settings = app.extensions["registry.settings"]
    with app.app_context(), command_transaction() as session:
        # Imports this host's server was running when it stopped never committed: say so.
        interrupted = fail_interrupted(session)
    # A roll whose merge was cut off (here, or by a killed command): its rows removed.
    recovered = recover_interrupted(app.extensions["registry.engine"])
    # Their uploads, and previews never imported, hold identity numbers: not kept.
    forget_uploads(app.instance_path, at_start=True)
    if interrupted:
        click.echo(
            _("{count} imports interrupted by the last stop marked failed", count=interrupted),
            err=True,
        )
    if recovered:
        click.echo(
            _(
                "{count} interrupted imports recovered: what they had written is removed",
                count=recovered,
            ),
            err=True,
        )
    scheme = "https" if settings.https else "http"
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host == "0.0.0.0" else host)  # noqa: S104
    click.echo(
        _(
            "sign in in a browser at {base}/login; API: {base}/api/v1/",
            base=f"{scheme}://{shown}:{port}",
        ),
        err=True,
    )

    class Server(BaseApplication):
        def load_config(self):
            for name, value in serving.settings(
                bind=f"{host}:{port}",
                workers=workers,
                timeout=timeout,
                access_log=access_log,
                error_log=error_log,
            ).items():
                self.cfg.set(name, value)

        def load(self):
            return create_app()

    Server().run()


COMMANDS = (init, serve)
