import json
import sys
from pathlib import Path

import click

from cli.common import DAY, cli_actor, id_number_option, load, session_scope
from registry import clock
from registry.eligibility import services
from registry.eligibility.rulesets import SEVERITIES, load_rulesets
from registry.eligibility.schemas import EligibilityQuerySchema, VerdictSchema, dispatch_of
from registry.eligibility.services import rules_table, with_rules_table
from registry.identity import ID_TYPES
from registry.institutions.services import get_institution
from registry.messages import _
from registry.vocabulary import STAFF_ROLES


@click.command()
@click.option("--district", help="the rules in force in this district (default: the baseline)")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option(
    "--write-readme",
    "readme",
    type=click.Path(exists=True, dir_okay=False, writable=True, path_type=Path),
    help="rewrite the rule table of this README between its markers",
)
def rules(district, format_, readme):
    """The eligibility rules (任职资格规则) in force, role by role, each with its severity
    (required 必需 / advisory 建议) and source, as the ruleset files say them."""
    # The files themselves, checked as the registry checks them at start; no database
    # or keys needed.
    rulesets = load_rulesets()
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        try:
            updated = with_rules_table(text, rulesets)
        except ValueError as exc:
            raise click.BadParameter(f"{readme}: {exc}", param_hint="--write-readme") from exc
        if updated != text:
            readme.write_text(updated, encoding="utf-8")
        if updated != text:
            click.echo(_("{readme}: rule table written", readme=readme))
        else:
            click.echo(_("{readme}: rule table unchanged", readme=readme))
        return
    if format_ == "markdown":
        click.echo(rules_table(rulesets))
        return
    ruleset = rulesets.for_district(district) if district else rulesets.baseline
    if district and ruleset is rulesets.baseline:
        click.echo(_("{district}: no overlay names it: the baseline", district=district), err=True)
    listed = [
        {
            "role": r.role,
            "rule": r.id,
            "severity": r.severity,
            "requirement": r.requirement,
            "source": r.source,
            "note": r.note,
        }
        for r in ruleset.rules
    ]
    if format_ == "json":
        click.echo(
            json.dumps(
                {"ruleset": ruleset.id, "name": ruleset.name, "rules": listed},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(f"{ruleset.name} ({ruleset.id}, {ruleset.version}):")
    for r in listed:
        click.echo(
            f"  {r['role']:<15} {r['rule']:<26} {r['severity']} {SEVERITIES[r['severity']]}"
            f"  {r['requirement']}"
        )
        click.echo(f"  {'':<15} {'':<26} 依据 source: {r['source']}")
        if r["note"]:
            click.echo(f"  {'':<15} {'':<26} 注 note: {r['note']}")


# Exit status when a required rule fails, for scripts (0 is eligible).
NOT_ELIGIBLE = 4


@click.command()
@id_number_option()
@click.option("--id-type", type=click.Choice(ID_TYPES), help="detected when omitted")
@click.option("--role", required=True, type=click.Choice(list(STAFF_ROLES)))
@click.option("--institution", "code", help="whose district's rules apply (default: national)")
@click.option("--as-of", type=DAY, help="default: today")
@click.option("--dispatch-company", help="security_guard: the dispatching security company")
@click.option("--dispatch-licence", help="security_guard: its 保安服务许可证 number")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text")
def eligibility(id_number, id_type, role, code, as_of, dispatch_company, dispatch_licence, format_):
    """May this person hold ROLE? Every rule with its severity and source; exit 0
    eligible, 4 when a required rule fails (advisory ones never refuse)."""
    options = {
        "id_number": id_number,
        "id_type": id_type,
        "role": role,
        "dispatch_company": dispatch_company,
        "dispatch_licence": dispatch_licence,
    }
    data = load(
        EligibilityQuerySchema(),
        {k: v for k, v in options.items() if v is not None},
        _("the question is invalid"),
    )
    with session_scope() as session:
        institution = get_institution(session, code) if code else None
        answer = services.check_eligibility(
            session,
            cli_actor(),
            data["identity"],
            role,
            as_of or clock.today(),
            institution,
            dispatch_of(data),
        )
        verdict = VerdictSchema().dump(services.describe(answer))
    if format_ == "json":
        click.echo(json.dumps(verdict, ensure_ascii=False, indent=2))
    else:
        _show(verdict)
    sys.exit(0 if verdict["eligible"] else NOT_ELIGIBLE)


def _show(verdict: dict) -> None:
    advisories = [r for r in verdict["reasons"] if r["severity"] == "advisory" and not r["ok"]]
    answer = _("eligible") if verdict["eligible"] else _("not eligible")
    if advisories:
        answer += " " + _("{count} advisory not met", count=len(advisories))
    ruleset = verdict["ruleset"]
    click.echo(
        _(
            "{role} on {day}, {ruleset} ({id}):",
            role=verdict["role"],
            day=verdict["as_of"],
            ruleset=ruleset["name"],
            id=ruleset["id"],
        )
    )
    click.echo(f"  {answer}")
    for reason in verdict["reasons"]:
        mark = "✓" if reason["ok"] else "✗"
        severity = f"{reason['severity']} {SEVERITIES[reason['severity']]}"
        click.echo(f"  {mark} {severity:<12} {reason['rule']}: {reason['message']}")
        click.echo(f"    依据 source: {reason['source']}")
        if reason.get("note"):
            click.echo(f"    注 note: {reason['note']}")


COMMANDS = (rules, eligibility)
