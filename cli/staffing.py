import json

import click

from cli.common import DAY, echo_csv, echo_table, load, session_scope, table_csv_or_json
from registry import clock
from registry.institutions.services import get_institution
from registry.messages import _
from registry.staffing import services
from registry.staffing.schemas import ExpiringQuerySchema, ExpiringSchema

COLUMNS = (
    "state",
    "expires_on",
    "days_left",
    "days_expired",
    "institution",
    "institution_name",
    "name",
    "roles",
    "kind",
    "number",
)
TABLE_COLUMNS = ("expires_on", "days", *COLUMNS[4:])


def _flat(row: dict) -> dict:
    return {
        **{k: "" if row.get(k) is None else row[k] for k in COLUMNS if k in row},
        "days": row["days_expired"] if row["state"] == "expired" else row["days_left"],
        "roles": " ".join(row["roles"]),
        "kind": row["certificate"]["kind"],
        "number": row["certificate"]["number"],
    }


@click.command()
@click.option("--within", default="90", show_default=True, help="days from --as-of")
@click.option("--as-of", type=DAY, help="default: today")
@click.option("--district", help="in any spelling its ruleset knows: 拱墅区 finds 杭州市拱墅区")
@click.option("--institution", "code", help="only this institution (统一社会信用代码)")
@table_csv_or_json()
def expiring(within, as_of, district, code, format_):
    """Certificates of staff in post that have already expired, then those that expire
    within --within days, soonest first, across institutions. In CSV and JSON,
    ``state`` says which (expired, expiring), with ``days_expired`` or ``days_left``."""
    query = load(ExpiringQuerySchema(), {"within": within}, _("the options are invalid"))
    day = as_of or clock.today()
    with session_scope() as session:
        institution = get_institution(session, code) if code else None
        rows = services.expiring(
            session,
            query["within"],
            day,
            institution=institution,
            district=district.strip() if district else None,
        ).items
        rows = ExpiringSchema(many=True).dump(rows)
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    flat = [_flat(row) for row in rows]
    if format_ == "csv":
        echo_csv(flat, COLUMNS)
        return
    expired = [r for r in flat if r["state"] == "expired"]
    soon = [r for r in flat if r["state"] == "expiring"]
    if expired:
        click.echo(_("{count} expired; days: since the expiry", count=len(expired)))
        echo_table(expired, TABLE_COLUMNS)
    else:
        click.echo(_("no certificate of staff in post has expired"))
    click.echo()
    if soon:
        click.echo(
            _(
                "{count} expire within {within} days; days: until the expiry",
                count=len(soon),
                within=query["within"],
            )
        )
        echo_table(soon, TABLE_COLUMNS)
    else:
        click.echo(
            _(
                "no certificate of staff in post expires within {within} days",
                within=query["within"],
            )
        )


COMMANDS = (expiring,)
