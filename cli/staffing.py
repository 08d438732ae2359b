import json

import click

from cli.common import echo_csv, echo_table, load, session_scope, table_csv_or_json
from registry import clock
from registry.institutions.services import get_institution
from registry.staffing import services
from registry.staffing.schemas import ExpiringQuerySchema, ExpiringSchema

COLUMNS = (
    "expires_on",
    "days_left",
    "institution",
    "institution_name",
    "name",
    "roles",
    "kind",
    "number",
)


def _flat(row: dict) -> dict:
    return {
        **{k: row[k] for k in COLUMNS if k in row},
        "roles": " ".join(row["roles"]),
        "kind": row["certificate"]["kind"],
        "number": row["certificate"]["number"],
    }


@click.command()
@click.option("--within", default="90", show_default=True, help="days from --as-of")
@click.option("--as-of", help="YYYY-MM-DD (default: today)")
@click.option("--district", help="only institutions of this district")
@click.option("--institution", "code", help="only this institution (统一社会信用代码)")
@table_csv_or_json()
def expiring(within, as_of, district, code, format_):
    """Certificates of staff in post that expire soon, soonest first, across institutions."""
    query = load(
        ExpiringQuerySchema(), {"within": within, "as_of": as_of}, "the options are invalid"
    )
    with session_scope() as session:
        institution = get_institution(session, code) if code else None
        rows = services.expiring(
            session,
            query["within"],
            query["as_of"] or clock.today(),
            institution=institution,
            district=district.strip() if district else None,
        )
        rows = ExpiringSchema(many=True).dump(rows)
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    flat = [_flat(row) for row in rows]
    if format_ == "csv":
        echo_csv(flat, COLUMNS)
    elif not flat:
        click.echo(f"no certificate of staff in post expires within {query['within']} days")
    else:
        echo_table(flat, COLUMNS)


COMMANDS = (expiring,)
