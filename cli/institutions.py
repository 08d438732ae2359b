import click

from cli.common import cli_actor, load, session_scope
from registry.institutions import services
from registry.institutions.schemas import InstitutionSchema


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
    data = load(InstitutionSchema(), data, "the institution cannot be added")
    with session_scope() as session:
        institution = services.create_institution(session, cli_actor(), data)
        click.echo(f"added {institution.code} {institution.name} ({institution.district})")


@institutions.command("list")
@click.option("--district")
def list_(district):
    """List institutions, by district."""
    with session_scope() as session:
        for institution in services.list_institutions(session, district):
            click.echo(f"{institution.code}\t{institution.district}\t{institution.name}")


COMMANDS = (institutions,)
