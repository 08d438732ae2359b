import click

from cli.common import DAY, cli_actor, echo_listing, page_options, session_scope, table_csv_or_json
from registry import clock
from registry.alerts import services
from registry.alerts.schemas import AlertSchema
from registry.institutions.services import get_institution
from registry.messages import _
from registry.vocabulary import ALERT_KINDS

COLUMNS = ("id", "raised_at", "kind", "institution", "acknowledged_at", "message")


@click.group()
def alerts():
    """Alerts (提醒): bans, certificates revoked or expiring, users whose lookups miss."""


@alerts.command("list")
@click.option(
    "--acknowledged/--unacknowledged",
    default=None,
    help="only those acknowledged, or only those still open (default: all)",
)
@click.option("--institution", "code", help="only this institution's (统一社会信用代码)")
@click.option("--kind", type=click.Choice(list(ALERT_KINDS)))
@page_options
@table_csv_or_json()
def list_(acknowledged, code, kind, page, page_size, format_):
    """Alerts, newest first."""
    with session_scope() as session:
        institution = get_institution(session, code) if code else None
        found = services.list_alerts(
            session,
            cli_actor(),
            acknowledged=acknowledged,
            institution=institution,
            kind=kind,
            page=page,
            page_size=page_size,
        )
        rows = AlertSchema(many=True).dump(found.items)
    echo_listing(
        found,
        rows,
        COLUMNS,
        format_,
        empty=_("no alerts"),
        # lookup_misses: the user's, not an institution's (the message names both).
        shown=lambda r: {
            **r,
            "institution": r["institution"] or r["user_institution"] or "",
            "acknowledged_at": r["acknowledged_at"] or "",
        },
    )


@alerts.command("acknowledge")
@click.argument("alert_id", type=click.IntRange(min=1))
def acknowledge(alert_id):
    """Acknowledge an alert (recorded with who and when)."""
    with session_scope() as session:
        alert = services.acknowledge(session, cli_actor(), alert_id)
        click.echo(_("acknowledged alert {alert}", alert=alert.id))


@alerts.command("sweep")
@click.option("--as-of", type=DAY, help="default: today")
def sweep(as_of):
    """Raise an alert, once, for each certificate of a current employee that expires
    within 30 days. Run it daily (cron); a second run raises nothing again."""
    day = as_of or clock.today()
    with session_scope() as session:
        raised = services.sweep_expiring(session, cli_actor(), day)
    click.echo(
        _(
            "{day}: {count} new alerts for certificates expiring within {within} days",
            day=day,
            count=len(raised),
            within=services.EXPIRING_WITHIN,
        )
    )


COMMANDS = (alerts,)
