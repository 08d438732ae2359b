import click

from cli.common import cli_actor, echo_listing, load, page_options, session_scope, table_csv_or_json
from registry.institutions import services
from registry.institutions.schemas import InstitutionSchema
from registry.messages import _


@click.group()
def institutions():
    """Infant-care institutions (托育机构)."""


@institutions.command("add")
@click.option("--code", required=True, help="统一社会信用代码 (GB 32100-2015)")
@click.option("--name", required=True)
@click.option("--district", required=True)
@click.option("--meals-on-site/--no-meals-on-site", default=False)
def add(code, name, district, meals_on_site):
    """Register an institution."""
    data = {"code": code, "name": name, "district": district, "meals_on_site": meals_on_site}
    data = load(InstitutionSchema(), data, _("the institution cannot be added"))
    with session_scope() as session:
        institution = services.create_institution(session, cli_actor(), data)
        click.echo(
            _(
                "added {code} {name} ({district})",
                code=institution.code,
                name=institution.name,
                district=institution.district,
            )
        )


COLUMNS = ("code", "district", "name", "ruleset", "meals_on_site", "children")


@institutions.command("list")
@click.option("--district", help="in any spelling its ruleset knows: 拱墅区 finds 杭州市拱墅区")
@page_options
@table_csv_or_json()
def list_(district, page, page_size, format_):
    """Institutions by district and code."""
    with session_scope() as session:
        found = services.list_institutions(
            session, district=district, page=page, page_size=page_size
        )
        rows = InstitutionSchema(many=True).dump(found.items)
    for row in rows:
        row["children"] = sum(c["children"] for c in row["classes"])
    echo_listing(found, rows, COLUMNS, format_, empty=_("no institutions"))


COMMANDS = (institutions,)
