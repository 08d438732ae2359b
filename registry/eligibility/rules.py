"""The checks that rules name, as pure functions of a person's record and a date.

A rule in a ruleset file says which check decides it and with what parameters; the
check answers whether the record passes and what it found, in Chinese and English.
Nothing here reads the database: ``services.py`` gathers the record.
"""

import math
from dataclasses import dataclass
from datetime import date

from registry.vocabulary import EDUCATION_RANK

from .rulesets import Ruleset

# "3 years" of merged periods is 3 × 365 days: a span of three calendar years passes
# whether or not it holds a 29 February.
DAYS_PER_YEAR = 365


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
    first failure."""
    reasons = []
    for rule in ruleset.rules_for(role):
        finding = CHECKS[rule.check](record, as_of, **rule.parameters)
        reasons.append(
            Reason(
                rule=rule.id,
                ok=finding.ok,
                message=f"{rule.requirement}：{finding.zh}（{rule.requirement_en}: {finding.en}）",
                source=rule.source,
            )
        )
    return Verdict(
        role=role,
        as_of=as_of,
        eligible=all(r.ok for r in reasons),
        barred=record.barred,
        reasons=tuple(reasons),
        ruleset=ruleset,
    )


def _not_barred(record: Record, as_of: date) -> Finding:
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


def _certificate(record: Record, as_of: date, kinds) -> Finding:
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


def _recent_certificate(record: Record, as_of: date, kinds, within_days: int) -> Finding:
    held = [c for c in record.certificates if c.kind in kinds]
    recent = [c for c in held if c.valid_on(as_of) and (as_of - c.issued_on).days <= within_days]
    if recent:
        best = max(recent, key=lambda c: c.issued_on)
        return Finding(True, f"{best.issued_on} 签发的证明有效", f"issued on {best.issued_on}")
    valid = [c for c in held if c.valid_on(as_of)]
    if valid:
        latest = max(valid, key=lambda c: c.issued_on)
        return Finding(
            False,
            f"最近一份于 {latest.issued_on} 签发，已超过 {within_days} 天",
            f"the latest was issued on {latest.issued_on}, over {within_days} days before",
        )
    return _describe_best(held, as_of)


def _education(record: Record, as_of: date, at_least: str) -> Finding:
    if record.education is None:
        return Finding(False, "未登记学历", "no education on record")
    if EDUCATION_RANK[record.education] >= EDUCATION_RANK[at_least]:
        return Finding(True, f"登记学历 {record.education}", f"recorded {record.education}")
    return Finding(False, f"登记学历仅为 {record.education}", f"recorded only {record.education}")


def _experience(record: Record, as_of: date, fields, management: bool, years: float) -> Finding:
    periods = [
        p for p in record.experience if p.field in fields and (p.management or not management)
    ]
    days = merged_days(periods, as_of)
    shown = f"{math.floor(days / DAYS_PER_YEAR * 10) / 10:.1f}"  # never rounded up to pass
    if days >= years * DAYS_PER_YEAR:
        return Finding(True, f"合计 {shown} 年", f"{shown} years in total")
    return Finding(False, f"合计仅 {shown} 年，需 {years:g} 年", f"only {shown} of {years:g} years")


def _experience_or_major(record: Record, as_of: date, fields, majors) -> Finding:
    worked = [p for p in record.experience if p.field in fields and p.start <= as_of]
    if worked:
        first = min(worked, key=lambda p: p.start)
        return Finding(
            True, f"有照护经历（{first.start} 起）", f"care experience since {first.start}"
        )
    major = "".join((record.major or "").split())
    related = next((m for m in majors if m in major), None)
    if related:
        return Finding(True, f"相关专业：{record.major}", f"related major: {record.major}")
    if record.major:
        return Finding(
            False,
            f"无照护经历，专业“{record.major}”不属相关专业",
            f"no care experience, and {record.major!r} is not a related major",
        )
    return Finding(False, "无照护经历，未登记专业", "no care experience and no major on record")


CHECKS = {
    "not_barred": _not_barred,
    "recent_certificate": _recent_certificate,
    "education": _education,
    "experience": _experience,
    "experience_or_major": _experience_or_major,
    "certificate": _certificate,
}
