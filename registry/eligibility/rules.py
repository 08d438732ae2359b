"""The checks that rules name, as pure functions of a person's record and a date.

A rule in a ruleset file says which check decides it and with what parameters; the
check answers whether the record passes and what it found, in Chinese and English.
Nothing here reads the database: ``services.py`` gathers the record.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta

from registry.vocabulary import EDUCATION_LEVELS, EDUCATION_RANK

from .rulesets import Majors, Ruleset

# "N years" of merged periods is at least ⌈N × 365.25⌉ days: three years are 1,096 days,
# so a span one day short of three calendar years is not three years.
DAYS_PER_YEAR = 365.25


def days_for_years(years: float) -> int:
    """The days "``years`` years" of experience take: ⌈years × 365.25⌉."""
    return math.ceil(years * DAYS_PER_YEAR)


def first_anniversary(day: date) -> date:
    """The same day a year later; the anniversary of a 29 February is 1 March."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


def last_day_of_year_from(day: date) -> date:
    """The last day of the year that starts on ``day``: the day before its first
    anniversary (an examination on 2025-03-05 holds through 2026-03-04)."""
    return first_anniversary(day) - timedelta(days=1)


@dataclass(frozen=True)
class Period:
    field: str
    management: bool
    start: date
    end: date | None  # still there


@dataclass(frozen=True)
class Held:
    """A certificate as the rules see it."""

    kind: str
    number: str
    issued_on: date
    expires_on: date | None
    revoked_on: date | None  # the day the revocation took effect

    def valid_on(self, day: date) -> bool:
        """Issued on or before ``day``, not expired, not revoked on that day."""
        return (
            self.issued_on <= day
            and (self.expires_on is None or day <= self.expires_on)
            and (self.revoked_on is None or day < self.revoked_on)
        )


@dataclass(frozen=True)
class Record:
    """What the registry knows of a person, for a verdict."""

    registered: bool
    education: str | None = None
    major: str | None = None
    experience: tuple[Period, ...] = ()
    certificates: tuple[Held, ...] = ()
    barred: bool = False
    # A security guard's dispatching company and its 保安服务许可证 number, as the
    # employment (or the question) gives them.
    dispatch_company: str | None = None
    dispatch_licence: str | None = None


@dataclass(frozen=True)
class Finding:
    ok: bool
    zh: str
    en: str


@dataclass(frozen=True)
class Reason:
    rule: str
    ok: bool
    message: str
    source: str
    severity: str = "required"
    note: str | None = None


@dataclass(frozen=True)
class Verdict:
    role: str
    as_of: date
    eligible: bool
    barred: bool
    reasons: tuple[Reason, ...]
    ruleset: Ruleset


def merged_days(periods, as_of: date) -> int:
    """Days covered by ``periods`` up to and including ``as_of``, overlaps counted once.

    A period's end day is worked; a period without an end runs to ``as_of``.
    """
    # Day numbers, not dates: "the day after" the last day covered never overflows.
    spans = sorted(
        (p.start.toordinal(), min(p.end or as_of, as_of).toordinal())
        for p in periods
        if p.start <= as_of
    )
    total, covered = 0, None  # covered: the last day counted so far
    for start, end in spans:
        if covered is not None:
            start = max(start, covered + 1)
        if start <= end:
            total += end - start + 1
            covered = end
    return total


def evaluate(ruleset: Ruleset, role: str, record: Record, as_of: date) -> Verdict:
    """Every rule of ``role`` on ``as_of``, passed or failed: the whole answer, not the
    first failure. Only required rules decide ``eligible``; advisory ones are shown."""
    reasons = []
    for rule in ruleset.rules_for(role):
        finding = CHECKS[rule.check](record, as_of, ruleset.majors, **rule.parameters)
        reasons.append(
            Reason(
                rule=rule.id,
                ok=finding.ok,
                message=f"{rule.requirement}：{finding.zh}（{rule.requirement_en}: {finding.en}）",
                source=rule.source,
                severity=rule.severity,
                note=rule.note,
            )
        )
    return Verdict(
        role=role,
        as_of=as_of,
        eligible=all(r.ok for r in reasons if r.severity == "required"),
        barred=record.barred,
        reasons=tuple(reasons),
        ruleset=ruleset,
    )


def _not_barred(record: Record, as_of: date, majors: Majors) -> Finding:
    if record.barred:
        # Only that there is a bar: its details are for the bureau, not the employer.
        return Finding(
            False, "有禁止从业记录，请联系当地卫生健康部门", "barred; contact the health bureau"
        )
    return Finding(True, "无禁止从业记录", "no bar on record")


def _describe_best(held: list[Held], as_of: date) -> Finding:
    """Why none of ``held`` counts: the one closest to counting, or that there is none."""
    if not held:
        return Finding(False, "无此类证书记录", "none on record")
    latest = max(held, key=lambda h: h.issued_on)
    if latest.revoked_on is not None and latest.revoked_on <= as_of:
        return Finding(
            False,
            f"证书 {latest.number} 已于 {latest.revoked_on} 撤销",
            f"certificate {latest.number} revoked on {latest.revoked_on}",
        )
    if latest.issued_on > as_of:
        return Finding(
            False,
            f"证书 {latest.number} 于 {latest.issued_on} 才签发",
            f"certificate {latest.number} issued only on {latest.issued_on}",
        )
    return Finding(
        False,
        f"证书 {latest.number} 已于 {latest.expires_on} 过期",
        f"certificate {latest.number} expired on {latest.expires_on}",
    )


def _certificate(record: Record, as_of: date, majors: Majors, kinds) -> Finding:
    held = [c for c in record.certificates if c.kind in kinds]
    valid = [c for c in held if c.valid_on(as_of)]
    if valid:
        best = max(valid, key=lambda c: c.issued_on)
        return Finding(
            True,
            f"持有效证书 {best.number}（{best.kind}）",
            f"valid {best.kind} {best.number}",
        )
    return _describe_best(held, as_of)


def _health_certificate(record: Record, as_of: date, majors: Majors, kinds) -> Finding:
    """A health certificate holds from its examination (``issued_on``) through the day
    before the examination's first anniversary, or to an earlier expiry it states."""
    held = [c for c in record.certificates if c.kind in kinds]
    current = [c for c in held if c.valid_on(as_of) and as_of <= last_day_of_year_from(c.issued_on)]
    if current:
        best = max(current, key=lambda c: c.issued_on)
        until = min(filter(None, (best.expires_on, last_day_of_year_from(best.issued_on))))
        return Finding(
            True,
            f"{best.issued_on} 体检的证明有效至 {until}",
            f"examined on {best.issued_on}, valid through {until}",
        )
    valid = [c for c in held if c.valid_on(as_of)]
    if valid:
        latest = max(valid, key=lambda c: c.issued_on)
        until = last_day_of_year_from(latest.issued_on)
        return Finding(
            False,
            f"最近一次体检于 {latest.issued_on}，证明只到 {until} 有效，须每年体检",
            f"the latest examination, on {latest.issued_on}, held only through {until}",
        )
    return _describe_best(held, as_of)


def _education(record: Record, as_of: date, majors: Majors, at_least: str) -> Finding:
    if record.education is None:
        return Finding(False, "未登记学历", "no education on record")
    shown = EDUCATION_LEVELS[record.education]
    if EDUCATION_RANK[record.education] >= EDUCATION_RANK[at_least]:
        return Finding(True, f"登记学历 {shown}", f"recorded {record.education}")
    return Finding(False, f"登记学历仅为 {shown}", f"recorded only {record.education}")


def _experience(
    record: Record, as_of: date, majors: Majors, fields, management: bool, years: float
) -> Finding:
    periods = [
        p for p in record.experience if p.field in fields and (p.management or not management)
    ]
    days = merged_days(periods, as_of)
    needed = days_for_years(years)
    shown = f"{math.floor(days / DAYS_PER_YEAR * 10) / 10:.1f}"  # never rounded up to pass
    if days >= needed:
        return Finding(
            True, f"合计 {days} 天（{shown} 年）", f"{days} days ({shown} years) in total"
        )
    return Finding(
        False,
        f"合计仅 {days} 天（{shown} 年），{years:g} 年须 {needed} 天",
        f"only {days} days ({shown} years); {years:g} years take {needed} days",
    )


def _major(record: Record, as_of: date, majors: Majors, major_groups) -> Finding:
    """The major, looked up in the vocabulary by name or alias (never by substring)."""
    accepted = "、".join(majors.names_in(major_groups))
    groups = "、".join(majors.groups[g] for g in major_groups)
    if not record.major:
        return Finding(
            False,
            f"未登记专业；可接受的专业：{accepted}",
            f"no major on record; accepted: {accepted}",
        )
    major = majors.find(record.major)
    if major is None:
        return Finding(
            False,
            f"专业“{record.major}”不在专业目录中（未知专业）；可接受的专业：{accepted}",
            f"{record.major!r} is not in the majors vocabulary (unknown); accepted: {accepted}",
        )
    if major.group not in major_groups:
        return Finding(
            False,
            f"专业“{record.major}”属{majors.groups[major.group]}，不属{groups}；可接受的专业：{accepted}",
            f"{record.major!r} is a {major.group} major, not {', '.join(major_groups)}; "
            f"accepted: {accepted}",
        )
    shown = record.major if major.name == record.major else f"{record.major}（即{major.name}）"
    return Finding(True, f"{groups}专业：{shown}", f"{major.group} major: {major.name}")


def _experience_or_major(
    record: Record, as_of: date, majors: Majors, fields, major_groups
) -> Finding:
    worked = [p for p in record.experience if p.field in fields and p.start <= as_of]
    if worked:
        first = min(worked, key=lambda p: p.start)
        return Finding(
            True, f"有照护经历（{first.start} 起）", f"care experience since {first.start}"
        )
    finding = _major(record, as_of, majors, major_groups)
    if finding.ok:
        return finding
    return Finding(False, f"无照护经历，{finding.zh}", f"no care experience, and {finding.en}")


def _dispatch(record: Record, as_of: date, majors: Majors) -> Finding:
    missing = [
        (zh, en)
        for value, zh, en in (
            (record.dispatch_company, "派遣保安服务公司", "the dispatching security company"),
            (record.dispatch_licence, "保安服务许可证号", "its security service licence number"),
        )
        if not (value and value.strip())
    ]
    if missing:
        return Finding(
            False,
            "未登记" + "和".join(zh for zh, _ in missing),
            "missing " + " and ".join(en for _, en in missing),
        )
    return Finding(
        True,
        f"由 {record.dispatch_company} 派遣（保安服务许可证 {record.dispatch_licence}）",
        f"dispatched by {record.dispatch_company}, licence {record.dispatch_licence}",
    )


CHECKS = {
    "not_barred": _not_barred,
    "health_certificate": _health_certificate,
    "education": _education,
    "experience": _experience,
    "experience_or_major": _experience_or_major,
    "major": _major,
    "certificate": _certificate,
    "dispatch": _dispatch,
}
