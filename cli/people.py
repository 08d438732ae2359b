import json

import click

from cli.common import cli_actor, echo_table, id_number_option, load, read_id_number, session_scope
from registry.errors import Invalid, NotFound
from registry.identity import ID_TYPES
from registry.messages import _
from registry.people import services
from registry.people.schemas import (
    CorrectionSchema,
    HistoryEntrySchema,
    LookupSchema,
    MergeSchema,
    NameSearchSchema,
    SearchResultSchema,
)
from registry.vocabulary import EDUCATION_LEVELS


@click.group()
def people():
    """People: corrections, merges of a wrong number, search by name."""


def _one_person(person_id, id_number):
    """``--id`` or ``--id-number``; with neither, a terminal asks for the number (before
    the transaction begins: nothing waits on a person typing)."""
    if person_id is not None and id_number is not None:
        raise click.UsageError(_("give either --id or --id-number"))
    if person_id is None and id_number is None:
        return None, read_id_number(None)
    return person_id, id_number


def _person(session, person_id, id_number, id_type):
    """The person named by ``--id`` or by ``--id-number`` (``_one_person``)."""
    if person_id is not None:
        return services.get_person(session, person_id)
    options = {"id_number": id_number} | ({"id_type": id_type} if id_type else {})
    identity = load(LookupSchema(), options, _("the identity number is invalid"))
    person = services.find_person(session, identity["identity"])
    if person is None:
        raise NotFound(_("no person with this identity number is registered"))
    return person


@people.command("correct")
@click.option("--id", "person_id", help="the person's id, as the API and the pages show it")
@id_number_option(required=False, help="证件号码 instead of --id")
@click.option("--id-type", type=click.Choice(ID_TYPES), help="detected when omitted")
@click.option("--reason", required=True, help="why, kept in the history")
@click.option("--name")
@click.option("--education", type=click.Choice(list(EDUCATION_LEVELS)))
@click.option("--major")
@click.option("--no-major", is_flag=True, help="clear the major")
@click.option(
    "--experience",
    "experience_json",
    help='JSON list of periods to add, or to correct by "id", as the API takes them: '
    '\'[{"field": "childcare", "organization": "…", "start": "2019-09-01"}]\'',
)
@click.option(
    "--remove-experience", type=click.IntRange(min=1), multiple=True, help="a period's id"
)
def correct(person_id, id_number, id_type, reason, name, education, major, no_major, **more):
    """Correct a person's name, education, major or experience, with a reason; the values
    before are kept in the history. A wrong identity number is a merge, not a correction."""
    data = {"reason": reason, "name": name, "education": education, "major": major}
    data = {k: v for k, v in data.items() if v is not None}
    if no_major:
        data["major"] = None
    if more["experience_json"] is not None:
        try:
            data["experience"] = json.loads(more["experience_json"])
        except ValueError as exc:
            raise Invalid(
                _("the correction was not made"),
                {"experience": [_("not JSON: {reason}", reason=exc)]},
            ) from exc
    if more["remove_experience"]:
        data["remove_experience"] = list(more["remove_experience"])
    data = load(CorrectionSchema(), data, _("the correction was not made"))
    person_id, id_number = _one_person(person_id, id_number)
    with session_scope() as session:
        person = _person(session, person_id, id_number, id_type)
        entry = services.correct_person(session, cli_actor(), person, data)
    click.echo(
        _(
            "corrected person {person}: {fields}; history entry {entry}",
            person=person.public_id,
            fields="、".join(sorted(entry.changes)),
            entry=entry.id,
        )
    )


@people.command("merge")
@click.option(
    "--from",
    "source_id",
    required=True,
    help="the record under the wrong number (its id, as the API shows it)",
)
@click.option(
    "--into",
    "target_id",
    required=True,
    help="the record under the right number (its id)",
)
@click.option("--reason", required=True)
@click.option("--names-differ", is_flag=True, help="merge although the two names differ")
def merge(source_id, target_id, reason, names_differ):
    """Merge a record under a wrong identity number into the right one: certificates,
    employments, checks and experience move; the merged record stays, marked merged."""
    data = load(
        MergeSchema(),
        {"into": target_id, "reason": reason, "names_differ": names_differ},
        _("the merge was not made"),
    )
    with session_scope() as session:
        source = services.get_person(session, source_id)
        target = services.get_person(session, target_id)
        entry = services.merge_people(
            session, cli_actor(), source, target, data["reason"], names_may_differ=names_differ
        )
    c = entry.changes
    click.echo(
        _(
            "merged person {source} into person {target}: certificates {certificates}, "
            "employments {employments}, checks {checks}, experience {experience}",
            source=source_id,
            target=target_id,
            certificates=len(c["certificates"]),
            employments=len(c["employments"]),
            checks=c["checks"],
            experience=len(c["experience"]),
        )
    )


@people.command("search")
@click.option("--name", required=True, help="the exact name (spaces and middle dots do not matter)")
@click.option("--format", "format_", type=click.Choice(["table", "json"]), default="table")
def search(name, format_):
    """People with exactly this name, with masked identity numbers."""
    data = load(NameSearchSchema(), {"name": name}, _("the name is invalid"))
    with session_scope() as session:
        found = SearchResultSchema().dump(
            services.search_by_name(session, cli_actor(), data["name"])
        )
    if format_ == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found["people"]:
        click.echo(_("nobody registered has this name"))
        return
    echo_table(
        [{**p, "education": p["education"] or "-"} for p in found["people"]],
        ("id", "name", "id_number_masked", "education"),
    )
    if found["more"]:
        click.echo(_("only the first {limit} are listed", limit=services.SEARCH_LIMIT))


@people.command("history")
@click.argument("person_id")
@click.option("--format", "format_", type=click.Choice(["table", "json"]), default="table")
def history(person_id, format_):
    """Corrections and merges of a person, oldest first, with the values before each."""
    with session_scope() as session:
        entries = HistoryEntrySchema(many=True).dump(
            services.history_of(session, services.get_person(session, person_id))
        )
    if format_ == "json":
        click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    if not entries:
        click.echo(_("no corrections or merges"))
    for e in entries:
        click.echo(
            f"{e['changed_at']}  {e['action']}  person {e['person_id']}  "
            f"{e['actor']}  {e['reason']}"
        )
        if e["previous_name"] is not None:
            click.echo(f"    name: {e['previous_name']} →")
        for field, change in e["changes"].items():
            click.echo(f"    {field}: {json.dumps(change, ensure_ascii=False)}")


@people.command("reindex-names")
@click.option("--batch", "batch_size", default=1000, show_default=True, type=click.IntRange(min=1))
def reindex_names(batch_size):
    """Index the names of people registered before search by name existed (`registry
    init` does it too); safe to run again."""
    total = 0
    with session_scope() as session:
        while filled := services.fill_name_indexes(session, batch_size):
            session.commit()  # one transaction a batch, as key rotation does
            total += filled
    click.echo(_("indexed the names of {count} people", count=total))


COMMANDS = (people,)
