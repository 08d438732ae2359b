"""Every rule of every role, in the baseline and each overlay: a fully qualified record
passes all of them, and taking away what one rule asks for fails that rule alone."""

import dataclasses
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.eligibility.rules import Held, Period, Record, evaluate, merged_days
from registry.eligibility.rulesets import load_rulesets
from registry.vocabulary import EDUCATION_LEVELS, STAFF_ROLES

RULESETS = load_rulesets()
AS_OF = date(2026, 6, 1)

EVERY_ROLE = ["not_barred", "health_certificate"]
BASELINE_RULES = {
    "director": [*EVERY_ROLE, "education", "experience", "training"],
    "caregiver": [*EVERY_ROLE, "background", "training", "qualification_certificate"],
    "care_assistant": [*EVERY_ROLE, "education", "qualification_certificate"],
    "nurse": [*EVERY_ROLE, "education", "training"],
    "security_guard": [*EVERY_ROLE, "qualification_certificate"],
    "cook": EVERY_ROLE,
    "other": EVERY_ROLE,
}
# What each overlay changes of the baseline's rules (SPEC §4, policy 002).
OVERLAY_RULES = {
    "national": {},
    "xihu": {},
    "yongan": {},
    "gongshu": {},
    "yuyao": {},
    "hangjin": {"nurse": [*BASELINE_RULES["nurse"], "health_qualification"]},
}


def _held(kind, issued=AS_OF - timedelta(days=30), expires=None, revoked=None, number=None):
    return Held(kind, number or f"{kind}-1", issued, expires, revoked)


QUALIFIED = Record(
    registered=True,
    education="bachelor",
    major="学前教育",
    experience=(
        Period("childcare", True, date(2018, 1, 1), date(2020, 12, 31)),
        Period("education", True, date(2021, 1, 1), None),
    ),
    certificates=tuple(
        _held(kind)
        for kind in (
            "health_certificate",
            "director_training",
            "caregiver_training",
            "childcare_worker",
            "health_care_training",
            "nurse_license",
            "security_guard",
        )
    ),
)


def _without_kinds(record, kinds):
    return dataclasses.replace(
        record, certificates=tuple(c for c in record.certificates if c.kind not in kinds)
    )


def _spoil(record: Record, rule) -> Record:
    """``record`` without what ``rule`` asks for, and nothing else taken away."""
    p = rule.parameters
    if rule.check == "not_barred":
        return dataclasses.replace(record, barred=True)
    if rule.check in ("certificate", "recent_certificate"):
        return _without_kinds(record, p["kinds"])
    if rule.check == "education":
        below = list(EDUCATION_LEVELS)[list(EDUCATION_LEVELS).index(p["at_least"]) - 1]
        return dataclasses.replace(record, education=below)
    if rule.check == "experience":
        return dataclasses.replace(
            record,
            experience=tuple(dataclasses.replace(e, management=False) for e in record.experience),
        )
    if rule.check == "experience_or_major":
        return dataclasses.replace(record, experience=(), major="会计")
    raise AssertionError(f"no way to spoil {rule.check}")


CASES = [
    pytest.param(ruleset_id, role, rule, id=f"{ruleset_id}-{role}-{rule.id}")
    for ruleset_id, ruleset in RULESETS.by_id.items()
    for role in STAFF_ROLES
    for rule in ruleset.rules_for(role)
]


@pytest.mark.parametrize("ruleset_id", OVERLAY_RULES)
@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_has_the_rules_of_spec(ruleset_id, role):
    expected = OVERLAY_RULES[ruleset_id].get(role, BASELINE_RULES[role])
    assert [r.id for r in RULESETS.by_id[ruleset_id].rules_for(role)] == expected


@pytest.mark.parametrize("ruleset_id", OVERLAY_RULES)
@pytest.mark.parametrize("role", STAFF_ROLES)
def test_a_qualified_person_passes_every_rule(ruleset_id, role):
    verdict = evaluate(RULESETS.by_id[ruleset_id], role, QUALIFIED, AS_OF)
    assert verdict.eligible and not verdict.barred
    assert all(r.ok for r in verdict.reasons), [r.message for r in verdict.reasons if not r.ok]


@pytest.mark.parametrize(("ruleset_id", "role", "rule"), CASES)
def test_each_rule_fails_on_its_own(ruleset_id, role, rule):
    ruleset = RULESETS.by_id[ruleset_id]
    verdict = evaluate(ruleset, role, _spoil(QUALIFIED, rule), AS_OF)
    assert not verdict.eligible
    failed = [r.rule for r in verdict.reasons if not r.ok]
    assert failed == [rule.id]
    # The whole answer: every rule of the role, each with its message and source.
    assert [r.rule for r in verdict.reasons] == [r.id for r in ruleset.rules_for(role)]
    reason = next(r for r in verdict.reasons if r.rule == rule.id)
    assert reason.source == rule.source and rule.requirement in reason.message
    assert rule.requirement_en in reason.message


def test_the_hangjin_nurse_needs_a_health_qualification():
    nurse = _without_kinds(QUALIFIED, {"nurse_license", "physician_license"})
    assert evaluate(RULESETS.baseline, "nurse", nurse, AS_OF).eligible
    verdict = evaluate(RULESETS.for_district("杭锦旗"), "nurse", nurse, AS_OF)
    assert [r.rule for r in verdict.reasons if not r.ok] == ["health_qualification"]
    physician = dataclasses.replace(
        nurse, certificates=(*nurse.certificates, _held("physician_license"))
    )
    assert evaluate(RULESETS.for_district("杭锦旗"), "nurse", physician, AS_OF).eligible


def test_an_unregistered_person_fails_with_reasons():
    verdict = evaluate(RULESETS.baseline, "caregiver", Record(registered=False), AS_OF)
    assert not verdict.eligible
    assert {r.rule: r.ok for r in verdict.reasons} == {
        "not_barred": True,
        "health_certificate": False,
        "background": False,
        "training": False,
        "qualification_certificate": False,
    }
    assert "无此类证书记录" in verdict.reasons[1].message


def test_a_barred_verdict_names_no_detail():
    verdict = evaluate(
        RULESETS.baseline, "cook", dataclasses.replace(QUALIFIED, barred=True), AS_OF
    )
    assert verdict.barred and not verdict.eligible
    assert "contact the health bureau" in verdict.reasons[0].message


# -- certificates on a date --------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate", "ok", "found"),
    [
        (_held("director_training", issued=AS_OF), True, "valid"),
        (_held("director_training", issued=AS_OF + timedelta(days=1)), False, "issued only on"),
        (_held("director_training", expires=AS_OF), True, "valid"),
        (_held("director_training", expires=AS_OF - timedelta(days=1)), False, "expired on"),
        (_held("director_training", revoked=AS_OF), False, "revoked on"),
        (_held("director_training", revoked=AS_OF + timedelta(days=1)), True, "valid"),
    ],
    ids=[
        "issued-that-day",
        "issued-later",
        "expires-that-day",
        "expired",
        "revoked",
        "revoked-later",
    ],
)
def test_a_certificate_counts_when_issued_not_expired_and_not_revoked(certificate, ok, found):
    record = dataclasses.replace(
        _without_kinds(QUALIFIED, {"director_training"}),
        certificates=(*_without_kinds(QUALIFIED, {"director_training"}).certificates, certificate),
    )
    reason = evaluate(RULESETS.baseline, "director", record, AS_OF).reasons[-1]
    assert reason.rule == "training" and reason.ok is ok and found in reason.message


@pytest.mark.parametrize(("age", "ok"), [(0, True), (365, True), (366, False)])
def test_the_health_certificate_must_be_from_the_last_365_days(age, ok):
    record = _without_kinds(QUALIFIED, {"health_certificate"})
    record = dataclasses.replace(
        record,
        certificates=(
            *record.certificates,
            _held(
                "health_certificate", issued=AS_OF - timedelta(days=age), expires=date(2030, 1, 1)
            ),
        ),
    )
    reason = evaluate(RULESETS.baseline, "cook", record, AS_OF).reasons[1]
    assert reason.rule == "health_certificate" and reason.ok is ok


def test_the_newest_of_several_health_certificates_counts():
    old = _held("health_certificate", issued=AS_OF - timedelta(days=700), number="old")
    new = _held("health_certificate", issued=AS_OF - timedelta(days=10), number="new")
    record = dataclasses.replace(_without_kinds(QUALIFIED, {"health_certificate"}))
    record = dataclasses.replace(record, certificates=(*record.certificates, old, new))
    assert evaluate(RULESETS.baseline, "cook", record, AS_OF).eligible


@pytest.mark.parametrize(
    ("education", "ok"),
    [
        ("junior_middle", False),
        ("senior_high", True),
        ("secondary_vocational", True),
        ("doctor", True),
        (None, False),
    ],
)
def test_secondary_vocational_ranks_with_senior_high(education, ok):
    record = dataclasses.replace(QUALIFIED, education=education)
    reason = next(
        r
        for r in evaluate(RULESETS.baseline, "nurse", record, AS_OF).reasons
        if r.rule == "education"
    )
    assert reason.ok is ok


@pytest.mark.parametrize(
    ("major", "ok"),
    [
        ("学前教育", True),
        ("学前教育（师范）", True),
        ("护理学", True),
        ("早期 教育", True),
        ("会计", False),
        (None, False),
    ],
)
def test_a_related_major_stands_for_care_experience(major, ok):
    record = dataclasses.replace(QUALIFIED, experience=(), major=major)
    reason = next(
        r
        for r in evaluate(RULESETS.baseline, "caregiver", record, AS_OF).reasons
        if r.rule == "background"
    )
    assert reason.ok is ok


def test_care_experience_stands_for_a_major():
    record = dataclasses.replace(
        QUALIFIED, major=None, experience=(Period("childcare", False, date(2026, 5, 1), None),)
    )
    assert evaluate(RULESETS.baseline, "caregiver", record, AS_OF).eligible
    later = dataclasses.replace(
        record, experience=(Period("childcare", False, AS_OF + timedelta(days=1), None),)
    )
    assert not evaluate(RULESETS.baseline, "caregiver", later, AS_OF).eligible


# -- the director's three years ----------------------------------------------------------


def _director_with(*periods):
    return evaluate(
        RULESETS.baseline, "director", dataclasses.replace(QUALIFIED, experience=periods), AS_OF
    )


def _management(start, end, field="childcare", management=True):
    return Period(field, management, start, end)


@pytest.mark.parametrize(
    ("periods", "ok"),
    [
        # Three calendar years pass with a 29 February (1096 days) or without (1095).
        ([_management(date(2023, 6, 1), date(2026, 5, 31))], True),
        ([_management(date(2021, 1, 1), date(2023, 12, 31))], True),
        ([_management(date(2021, 1, 2), date(2023, 12, 31))], False),
        ([_management(date(2023, 6, 1), None)], True),
        # Two overlapping years are not three.
        (
            [_management(date(2024, 6, 1), None), _management(date(2024, 6, 1), None, "education")],
            False,
        ),
        ([_management(date(2020, 1, 1), date(2022, 12, 31), "other")], False),
        ([_management(date(2020, 1, 1), date(2022, 12, 31), "health", management=False)], False),
        (
            [
                _management(date(2018, 1, 1), date(2019, 6, 30)),
                _management(date(2024, 1, 1), None, "health"),
            ],
            True,
        ),
        # Periods after the date do not count.
        ([_management(date(2026, 6, 2), date(2030, 1, 1))], False),
    ],
    ids=[
        "3-with-leap-day",
        "3-without",
        "a-day-short",
        "open-ended",
        "overlap-once",
        "wrong-field",
        "not-management",
        "gaps-add-up",
        "future",
    ],
)
def test_management_years_merge_overlaps(periods, ok):
    reason = next(r for r in _director_with(*periods).reasons if r.rule == "experience")
    assert reason.ok is ok, reason.message


periods = st.builds(
    lambda start, length, open_ended: Period(
        "childcare", True, start, None if open_ended else start + timedelta(days=length)
    ),
    st.dates(date(2020, 1, 1), date(2021, 12, 31)),
    st.integers(0, 400),
    st.booleans(),
)
as_of_dates = st.dates(date(2019, 12, 1), date(2022, 6, 30))


def _days_by_counting(items, as_of):
    days = set()
    for p in items:
        day = p.start
        while day <= min(p.end or as_of, as_of):
            days.add(day)
            day += timedelta(days=1)
    return len(days)


@given(st.lists(periods, max_size=6), as_of_dates)
def test_merged_days_count_each_day_once(items, as_of):
    assert merged_days(items, as_of) == _days_by_counting(items, as_of)


@given(st.lists(periods, max_size=6), as_of_dates, st.randoms())
def test_merged_days_do_not_depend_on_order(items, as_of, random):
    shuffled = list(items)
    random.shuffle(shuffled)
    assert merged_days(shuffled, as_of) == merged_days(items, as_of)


@given(st.lists(periods, min_size=1, max_size=6), as_of_dates)
def test_a_repeated_period_adds_nothing(items, as_of):
    assert merged_days(items + items[:1], as_of) == merged_days(items, as_of)
    single = [merged_days([p], as_of) for p in items]
    assert max(single) <= merged_days(items, as_of) <= sum(single)
