import base64
import json
import sys
from pathlib import Path

import click

from cli.common import (
    DAY,
    cli_actor,
    echo_listing,
    get_app,
    id_number_option,
    load,
    page_options,
    session_scope,
    table_csv_or_json,
)
from registry import clock
from registry.bans import receipts, services
from registry.bans.schemas import BanSchema, CheckRecordSchema, CheckRequestSchema, RevokeBanSchema
from registry.crypto import current_keyring
from registry.identity import ID_TYPES
from registry.messages import _
from registry.vocabulary import BAN_CATEGORIES, BAN_STATUSES

# Exit status of a check that found a ban, for scripts (0 is clear).
BARRED = 3

id_number = id_number_option()
id_type = click.option("--id-type", type=click.Choice(ID_TYPES), help="detected when omitted")


def _identity(schema, **options):
    options = {k: v for k, v in options.items() if v is not None}
    return load(schema, options, _("the identity number is invalid"))


@click.group()
def bans():
    """Lifetime and fixed-term bans (禁止从业), for the health bureau."""


@bans.command("add")
@id_number
@id_type
@click.option("--name", required=True)
@click.option("--category", required=True, type=click.Choice(list(BAN_CATEGORIES)))
@click.option("--authority", required=True, help="the deciding authority")
@click.option("--decision-no", required=True, help="the decision document's number")
@click.option("--effective-on", type=DAY, help="生效日期 the day the ban takes effect")
@click.option("--effective", "effective_alias", type=DAY, hidden=True)  # the old spelling
@click.option("--until", type=DAY, help="截止日期; omitted: for life (终身)")
def add(
    id_number, id_type, name, category, authority, decision_no, effective_on, effective_alias, until
):
    """Record a ban; prints the ban id alone on the last line."""
    effective_on = effective_on or effective_alias
    if effective_on is None:
        raise click.MissingParameter(param_type="option", param_hint="'--effective-on'")
    data = {
        "id_number": id_number,
        "id_type": id_type,
        "name": name,
        "category": category,
        "authority": authority,
        "decision_no": decision_no,
        "effective_on": effective_on.isoformat(),
        "until": until and until.isoformat(),
    }
    data = load(
        BanSchema(), {k: v for k, v in data.items() if v is not None}, _("the ban cannot be added")
    )
    with session_scope() as session:
        ban, alerts = services.add_ban(session, cli_actor(), data)
    click.echo(_("alerts raised for current employments: {count}", count=len(alerts)), err=True)
    click.echo(ban.id)


BAN_COLUMNS = (
    "id",
    "status",
    "name",
    "id_number_masked",
    "category",
    "authority",
    "decision_no",
    "effective_on",
    "until",
)


@bans.command("list")
@click.option(
    "--status", type=click.Choice(list(BAN_STATUSES)), help="active 有效 or revoked 已撤销"
)
@page_options
@table_csv_or_json()
def list_(status, page, page_size, format_):
    """The blacklist, newest decision first: masked numbers only."""
    with session_scope() as session:
        found = services.list_bans(session, status=status, page=page, page_size=page_size)
        rows = BanSchema(many=True).dump(found.items)
    echo_listing(
        found,
        rows,
        BAN_COLUMNS,
        format_,
        empty=_("no bans"),
        shown=lambda r: {k: "终身 for life" if v is None else v for k, v in r.items()},
    )


@bans.command("revoke")
@click.argument("ban_id", type=click.IntRange(min=1))
@click.option("--reason", required=True)
def revoke(ban_id, reason):
    """Revoke a ban with a reason (the record stays)."""
    data = load(RevokeBanSchema(), {"reason": reason}, _("the ban cannot be revoked"))
    with session_scope() as session:
        ban = services.revoke_ban(
            session, cli_actor(), services.get_ban(session, ban_id), data["reason"]
        )
        click.echo(_("revoked ban {ban}", ban=ban.id))


@bans.command("check")
@id_number
@id_type
@click.option("--purpose")
@click.option("--receipt", "show_receipt", is_flag=True, help="also print the signed receipt")
def check(id_number, id_type, purpose, show_receipt):
    """Check a number: prints clear or barred; exit 0 clear, 3 barred."""
    data = _identity(CheckRequestSchema(), id_number=id_number, id_type=id_type, purpose=purpose)
    with session_scope() as session:
        row, receipt = services.check(
            session, cli_actor(), data["identity"], purpose=data["purpose"], institution=None
        )
    click.echo(row.result)
    if show_receipt:
        click.echo(receipt)
    sys.exit(BARRED if row.result == "barred" else 0)


@click.group()
def checks():
    """Hiring checks made through the registry."""


@checks.command("for-person")
@id_number
@id_type
@click.option("--format", "format_", type=click.Choice(["table", "json"]), default="table")
def for_person(id_number, id_type, format_):
    """Who checked this person: every check, newest first."""
    data = _identity(CheckRequestSchema(), id_number=id_number, id_type=id_type)
    with session_scope() as session:
        rows = CheckRecordSchema(many=True).dump(
            services.checks_of(session, data["identity"]).items
        )
    if format_ == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(_("nobody has checked this number"))
    for r in rows:
        who = r["institution"] or "-"
        click.echo(
            f"{r['checked_at']}\t{who}\t{r['user'] or '-'}\t{r['result']}\t{r['purpose'] or ''}"
        )


@click.command()
@click.option("--as-of", type=DAY, help="default: today")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text")
def rescreen(as_of, format_):
    """Re-check every current employment against the bans (the yearly check of
    未成年人保护法 art. 62); exit 3 when somebody barred is in post."""
    with session_scope() as session:
        report = services.rescreen(session, cli_actor(), as_of or clock.today())
    if format_ == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(
            _(
                "re-screened {count} employments in post on {day}",
                count=report["employments"],
                day=report["as_of"],
            )
        )
        for hit in report["barred"]:
            fields = {
                "institution": hit["institution"],
                "employment": hit["employment_id"],
                "role": hit["role"],
                "ban": hit["ban_id"],
                "alert": hit["alert_id"],
            }
            if hit["new_alert"]:
                line = _(
                    "BARRED  institution {institution}  employment {employment}  {role}  "
                    "ban {ban}  (new alert {alert})",
                    **fields,
                )
            else:
                line = _(
                    "BARRED  institution {institution}  employment {employment}  {role}  "
                    "ban {ban}  (alert already raised {alert})",
                    **fields,
                )
            click.echo(line)
        click.echo(_("{count} barred in post", count=len(report["barred"])))
    sys.exit(BARRED if report["barred"] else 0)


@click.group("receipts")
def receipts_group():
    """Receipts of hiring checks."""


@receipts_group.command("verify")
@click.argument("token")
@click.option(
    "--public-key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the JSON of GET /api/v1/keys/receipts (default: this instance's keys)",
)
def verify(token, key_file):
    """Verify a receipt offline: exit 0 valid, 1 not."""
    keys = _public_keys(key_file)
    try:
        receipt = receipts.verify(token, keys)
    except receipts.InvalidReceipt as exc:
        raise click.ClickException(_("invalid receipt: {reason}", reason=exc)) from exc
    institution = receipt.institution or "-"
    click.echo(
        _(
            "valid receipt: check {check}, institution {institution}, {id_number}, {result}, "
            "{checked_at}, key {kid}",
            check=receipt.check_id,
            institution=institution,
            id_number=receipt.number_shown,
            result=receipt.result,
            checked_at=receipt.checked_at,
            kid=receipt.kid,
        )
    )


def _public_keys(key_file: Path | None) -> dict[str, bytes]:
    if key_file is None:
        with get_app().app_context():
            return current_keyring().public_keys()
    try:
        document = json.loads(key_file.read_text(encoding="utf-8"))
        return {k["kid"]: base64.b64decode(k["public_key"]) for k in document["keys"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            _(
                "{file}: not the JSON of GET /api/v1/keys/receipts ({reason})",
                file=key_file,
                reason=exc,
            )
        ) from exc


COMMANDS = (bans, checks, rescreen, receipts_group)
