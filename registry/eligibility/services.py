"""Verdicts: the rules of a ruleset applied to what the registry knows of a person.
Functions take the session and never commit."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from registry.audit import record_event
from registry.bans import services as bans
from registry.bans.models import BanCheck
from registry.credentials.services import certificates_of, held
from registry.identity import IdentityNumber
from registry.people.models import Person
from registry.people.services import find_person, person_subject

from .rules import Period, Record, Verdict, evaluate
from .rulesets import Ruleset, Rulesets, current_rulesets


def ruleset_for(institution) -> Ruleset:
    """The ruleset of the institution's district, or the national baseline."""
    rulesets = current_rulesets()
    return rulesets.baseline if institution is None else rulesets.for_district(institution.district)


def record_of(
    session: Session, person: Person | None, barred: bool, dispatch: dict | None = None
) -> Record:
    """What the rules see of ``person``; ``dispatch`` names a security guard's
    dispatching company and its licence (``company``, ``licence``), as the hire or the
    question gives them."""
    dispatch = {
        "dispatch_company": (dispatch or {}).get("company"),
        "dispatch_licence": (dispatch or {}).get("licence"),
    }
    if person is None:
        return Record(registered=False, barred=barred, **dispatch)
    return Record(
        registered=True,
        education=person.education,
        major=person.major,
        experience=tuple(
            Period(field=e.field, management=e.management, start=e.start, end=e.end)
            for e in person.experience
        ),
        certificates=tuple(held(c) for c in certificates_of(session, person.id)),
        barred=barred,
        **dispatch,
    )


@dataclass(frozen=True)
class Answer:
    """A verdict with the hiring check behind its ``barred``."""

    verdict: Verdict
    person: Person | None
    check: BanCheck
    receipt: str


def verdict_for(
    session: Session,
    actor,
    identity: IdentityNumber,
    role: str,
    as_of: date,
    institution,
    *,
    purpose: str,
    dispatch: dict | None = None,
) -> Answer:
    """The verdict on ``role`` for the person with this number on ``as_of``, under the
    institution's ruleset. ``barred`` comes from a hiring check, stored, audited and
    receipted like any other (the answer tells whether the person is barred).

    A number nobody registered is judged on an empty record: every rule that needs a
    record fails and says so, and a ban still shows, since bans are kept for numbers,
    not for registered people.
    """
    check, receipt = bans.check(
        session, actor, identity, purpose=purpose, institution=institution, days=(as_of,)
    )
    person = find_person(session, identity)
    record = record_of(session, person, check.result == "barred", dispatch)
    verdict = evaluate(ruleset_for(institution), role, record, as_of)
    return Answer(verdict, person, check, receipt)


def check_eligibility(
    session: Session,
    actor,
    identity: IdentityNumber,
    role: str,
    as_of: date,
    institution,
    dispatch: dict | None = None,
) -> Answer:
    """``verdict_for``, with the verdict in the audit log."""
    answer = verdict_for(
        session,
        actor,
        identity,
        role,
        as_of,
        institution,
        purpose=f"eligibility: {role}",
        dispatch=dispatch,
    )
    verdict = answer.verdict
    record_event(
        session,
        actor,
        "eligibility.checked",
        person_subject(answer.person, identity),
        {
            "role": role,
            "as_of": as_of.isoformat(),
            "ruleset": verdict.ruleset.id,
            "institution": institution.code if institution is not None else None,
            "eligible": verdict.eligible,
            "barred": verdict.barred,
            "advisories": [r.rule for r in advisories(verdict)],
            "check_id": answer.check.id,
        },
    )
    return answer


def advisories(verdict: Verdict) -> list:
    """The advisory rules the verdict found unmet: shown, never refusing."""
    return [r for r in verdict.reasons if r.severity == "advisory" and not r.ok]


def describe(answer: Answer) -> dict:
    """A verdict as ``VerdictSchema`` dumps it."""
    verdict = answer.verdict
    return {
        "role": verdict.role,
        "as_of": verdict.as_of,
        "eligible": verdict.eligible,
        "barred": verdict.barred,
        "person_id": answer.person.public_id if answer.person is not None else None,
        "ruleset": verdict.ruleset,
        "reasons": verdict.reasons,
        "check_id": answer.check.id,
        "receipt": answer.receipt,
    }


# -- the rule table of the README -------------------------------------------------------

TABLE_BEGIN = "<!-- rules:begin: written by `registry rules --write-readme README.md` -->"
TABLE_END = "<!-- rules:end -->"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _sourced(source: str, note: str | None) -> str:
    return _cell(source if not note else f"{source}（注：{note}）")


def rules_table(rulesets: Rulesets) -> str:
    """The rules of every ruleset as Markdown: the baseline whole, then what each
    overlay adds or replaces, then the institution rules and targets."""
    baseline = rulesets.baseline
    lines = []

    def person_rules(title: str, rules) -> None:
        lines.extend(
            [
                "",
                f"**{title}**",
                "",
                "| role | rule | severity | requirement | source |",
                "|---|---|---|---|---|",
            ]
        )
        for rule in rules:
            lines.append(
                f"| `{rule.role}` | `{rule.id}` | {rule.severity} | {_cell(rule.requirement)} "
                f"| {_sourced(rule.source, rule.note)} |"
            )

    person_rules(f"{baseline.name} `{baseline.id}` (national texts only)", baseline.rules)
    inherited = list(baseline.rules)
    overlays = sorted((r for r in rulesets.by_id.values() if r is not baseline), key=_by_id)
    for ruleset in overlays:
        own = [r for r in ruleset.rules if r not in inherited]
        districts = "、".join(ruleset.districts)
        person_rules(f"{ruleset.name} `{ruleset.id}` ({districts}): adds or replaces", own)
    lines.extend(
        [
            "",
            "**Institution rules and certification-rate targets**",
            "",
            "| ruleset | rule | figure | source |",
            "|---|---|---|---|",
        ]
    )
    for ruleset in [baseline, *overlays]:
        lines.extend(_institution_rows(ruleset, baseline))
    majors = baseline.majors
    lines.extend(["", "**Majors vocabulary** (`registry/eligibility/majors.toml`)", ""])
    lines.extend(["| group | majors (aliases) | source |", "|---|---|---|"])
    for major in majors.majors:
        aliases = f"（{'、'.join(major.aliases)}）" if major.aliases else ""
        lines.append(
            f"| `{major.group}` {majors.groups[major.group]} | {major.name}{aliases} "
            f"| {_cell(major.source)} |"
        )
    return "\n".join([TABLE_BEGIN, *lines, "", TABLE_END])


def _by_id(ruleset) -> str:
    return ruleset.id


def _institution_rows(ruleset, baseline) -> list[str]:
    rows = []
    for class_type, rule in ruleset.classes.items():
        if ruleset is not baseline and baseline.classes.get(class_type) == rule:
            continue
        rows.append(
            f"| `{ruleset.id}` | class `{class_type}` | ≤ {rule.max_children} children, "
            f"1 caregiver per {rule.children_per_caregiver} | {_sourced(rule.source, rule.note)} |"
        )
    figures = {
        "health_staff": lambda r: (
            f"≥ {r['at_least']}; above {r['children_per_full_time']} "
            f"children, 1 full-time per {r['children_per_full_time']}"
        ),
        "cooks": lambda r: f"meals on site: 1 per {r['children_per_cook']} children",
    }
    for key, figure in figures.items():
        rule = ruleset.institution[key]
        if ruleset is not baseline and baseline.institution[key] == rule:
            continue
        rows.append(
            f"| `{ruleset.id}` | `{key}` | {figure(rule)} "
            f"| {_sourced(rule['source'], rule.get('note'))} |"
        )
    target = ruleset.certification_target
    if target is not None and target != baseline.certification_target:
        rows.append(
            f"| `{ruleset.id}` | `certification_rate` | {target.rate:.0%} by {target.by} "
            f"(due {target.due_on()}) | {_sourced(target.source, target.note)} |"
        )
    return rows


def with_rules_table(readme: str, rulesets: Rulesets) -> str:
    """``readme`` with the text between the table's markers replaced by ``rules_table``.
    ``ValueError`` when the markers are missing."""
    begin, end = readme.find(TABLE_BEGIN), readme.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {TABLE_BEGIN} … {TABLE_END} markers")
    return readme[:begin] + rules_table(rulesets) + readme[end + len(TABLE_END) :]
