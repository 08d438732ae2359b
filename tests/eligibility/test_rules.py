"""Every rule of every role, in the baseline and each overlay: a fully qualified record
passes all of them, and taking away what one rule asks for fails that rule alone."""

import dataclasses
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.eligibility.rules import (
    Held,
    Period,
    Record,
    days_for_years,
    evaluate,
    last_day_of_year_from,
    merged_days,
)
from registry.eligibility.rulesets import load_rulesets
from registry.vocabulary import EDUCATION_LEVELS, STAFF_ROLES

RULESETS = load_rulesets()
AS_OF = date(2026, 6, 1)

R, A = "required", "advisory"
EVERY_ROLE = [("not_barred", R), ("health_certificate", R)]
CARE = [*EVERY_ROLE, ("background", R), ("training", R)]
BASELINE_RULES = {
    "director": [*EVERY_ROLE, ("education", R), ("experience", R), ("training", R)],
    "caregiver": CARE,
    "care_assistant": CARE,
    "nurse": [*EVERY_ROLE, ("education", R), ("training", R)],
    "security_guard": [*EVERY_ROLE, ("qualification_certificate", R), ("dispatch", R)],
    "cook": EVERY_ROLE,
    "other": EVERY_ROLE,
}
# What each overlay changes of the baseline's rules, role by role.
OVERLAY_RULES = {
    "national": {},
    "xihu": {
        "caregiver": [*CARE, ("qualification_certificate", R)],
        "care_assistant": [*CARE, ("qualification_certificate", R)],
    },
    "yongan": {
        "caregiver": [*CARE, ("qualification_certificate", A)],
        "care_assistant": [*CARE, ("qualification_certificate", A)],
    },
    "yuyao": {
        "caregiver": [*CARE, ("qualification_certificate", A)],
        "care_assistant": [*CARE, ("qualification_certificate", A)],
    },
    "gongshu": {
        "caregiver": [*CARE, ("qualification_certificate", A)],
        "care_assistant": [*CARE, ("qualification_certificate", A)],
    },
    "hangjin": {
        "caregiver": [*CARE, ("qualification_certificate", R)],
        "care_assistant": [*CARE, ("education", R), ("qualification_certificate", R)],
        "nurse": [*BASELINE_RULES["nurse"], ("health_qualification", R)],
    },
}
# The rules whose check an overlay changes: (ruleset, role, rule) -> check.
OVERLAY_CHECKS = {("hangjin", "caregiver", "background"): "major"}


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
    dispatch_company="杭州市保安服务有限公司",
    dispatch_licence="浙公保服许字〔2010〕001号",
)


def _without_kinds(record, kinds):
    return dataclasses.replace(
        record, certificates=tuple(c for c in record.certificates if c.kind not in kinds)
    )


def _with(record, *certificates):
    return dataclasses.replace(record, certificates=(*record.certificates, *certificates))


def _spoil(record: Record, rule) -> Record:
    """``record`` without what ``rule`` asks for, and nothing else taken away."""
    p = rule.parameters
    if rule.check == "not_barred":
        return dataclasses.replace(record, barred=True)
    if rule.check in ("certificate", "health_certificate"):
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
    if rule.check == "major":
        return dataclasses.replace(record, major="会计")
    if rule.check == "dispatch":
        return dataclasses.replace(record, dispatch_licence=None)
    raise AssertionError(f"no way to spoil {rule.check}")


CASES = [
    pytest.param(ruleset_id, role, rule, id=f"{ruleset_id}-{role}-{rule.id}")
    for ruleset_id, ruleset in RULESETS.by_id.items()
    for role in STAFF_ROLES
    for rule in ruleset.rules_for(role)
]


def _reason(verdict, rule):
    return next(r for r in verdict.reasons if r.rule == rule)


@pytest.mark.parametrize("ruleset_id", OVERLAY_RULES)
@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_has_the_rules_of_its_documents(ruleset_id, role):
    expected = OVERLAY_RULES[ruleset_id].get(role, BASELINE_RULES[role])
    rules = RULESETS.by_id[ruleset_id].rules_for(role)
    assert [(r.id, r.severity) for r in rules] == expected


def test_the_baseline_cites_only_national_texts():
    for rule in RULESETS.baseline.rules:
        assert not any(local in rule.source for local in ("西政办", "杭政办", "余政办", "永政办"))
    assert not [r for r in RULESETS.baseline.rules if r.id == "qualification_certificate"
                and r.role in ("caregiver", "care_assistant")]  # fmt: skip


@pytest.mark.parametrize(
    ("ruleset_id", "document"),
    [
        ("xihu", "西政办函〔2021〕15号"),
        ("yongan", "永政办〔2021〕64号"),
        ("yuyao", "余政办发〔2020〕70号"),
        ("gongshu", "拱墅区"),
        ("hangjin", "杭政办发〔2021〕62号"),
    ],
)
def test_each_overlay_rule_cites_its_own_document(ruleset_id, document):
    baseline = {(r.id, r.role): r for r in RULESETS.baseline.rules}
    ruleset = RULESETS.by_id[ruleset_id]
    own = [r for r in ruleset.rules if baseline.get((r.id, r.role)) != r]
    assert own
    assert all(document in r.source for r in own), [r.source for r in own]
    if ruleset.certification_target:
        assert document in ruleset.certification_target.source


@pytest.mark.parametrize("ruleset_id", OVERLAY_RULES)
@pytest.mark.parametrize("role", STAFF_ROLES)
def test_a_qualified_person_passes_every_rule(ruleset_id, role):
    verdict = evaluate(RULESETS.by_id[ruleset_id], role, QUALIFIED, AS_OF)
    assert verdict.eligible and not verdict.barred
    assert all(r.ok for r in verdict.reasons), [r.message for r in verdict.reasons if not r.ok]


@pytest.mark.parametrize(("ruleset_id", "role", "rule"), CASES)
def test_each_rule_fails_on_its_own(ruleset_id, role, rule):
    ruleset = RULESETS.by_id[ruleset_id]
    assert rule.check == OVERLAY_CHECKS.get((ruleset_id, role, rule.id), rule.check)
    verdict = evaluate(ruleset, role, _spoil(QUALIFIED, rule), AS_OF)
    # Only a required rule makes the person not eligible; an advisory one is shown.
    assert verdict.eligible is (rule.severity == "advisory")
    failed = [r.rule for r in verdict.reasons if not r.ok]
    assert failed == [rule.id]
    # The whole answer: every rule of the role, each with its message, severity and source.
    assert [r.rule for r in verdict.reasons] == [r.id for r in ruleset.rules_for(role)]
    reason = _reason(verdict, rule.id)
    assert reason.source == rule.source and rule.requirement in reason.message
    assert reason.severity == rule.severity and reason.note == rule.note
    assert rule.requirement_en in reason.message


def test_a_required_and_an_advisory_failure_in_one_verdict():
    record = _without_kinds(QUALIFIED, {"caregiver_training", "childcare_worker"})
    verdict = evaluate(RULESETS.for_district("永安市"), "caregiver", record, AS_OF)
    failed = {r.rule: r.severity for r in verdict.reasons if not r.ok}
    assert failed == {"training": "required", "qualification_certificate": "advisory"}
    assert not verdict.eligible
    with_training = _with(record, _held("caregiver_training"))
    verdict = evaluate(RULESETS.for_district("永安市"), "caregiver", with_training, AS_OF)
    assert verdict.eligible
    assert [(r.rule, r.severity) for r in verdict.reasons if not r.ok] == [
        ("qualification_certificate", "advisory")
    ]
    # In 西湖区 the same certificate is required.
    assert not evaluate(RULESETS.for_district("西湖区"), "caregiver", with_training, AS_OF).eligible


def test_the_hangjin_nurse_needs_a_health_qualification():
    nurse = _without_kinds(QUALIFIED, {"nurse_license", "physician_license"})
    assert evaluate(RULESETS.baseline, "nurse", nurse, AS_OF).eligible
    verdict = evaluate(RULESETS.for_district("杭锦旗"), "nurse", nurse, AS_OF)
    assert [r.rule for r in verdict.reasons if not r.ok] == ["health_qualification"]
    physician = _with(nurse, _held("physician_license"))
    assert evaluate(RULESETS.for_district("杭锦旗"), "nurse", physician, AS_OF).eligible


@pytest.mark.parametrize(
    ("kinds", "ok"),
    [
        ({"director_training"}, True),
        ({"kindergarten_teacher"}, True),  # 取得相应从业资格
        ({"caregiver_training"}, False),
        (set(), False),
    ],
)
def test_the_hangjin_director_needs_training_or_a_qualification(kinds, ok):
    record = _without_kinds(
        QUALIFIED, {"director_training", "childcare_worker", "caregiver_training"}
    )
    record = _with(record, *(_held(kind) for kind in kinds))
    verdict = evaluate(RULESETS.for_district("杭锦旗"), "director", record, AS_OF)
    assert _reason(verdict, "training").ok is ok
    national = evaluate(RULESETS.baseline, "director", record, AS_OF)
    assert _reason(national, "training").ok is ("director_training" in kinds)


def test_hangjin_care_assistants_need_school_and_a_childcare_worker_certificate():
    hangjin = RULESETS.for_district("杭锦旗")
    junior = dataclasses.replace(QUALIFIED, education="junior_middle")
    verdict = evaluate(hangjin, "care_assistant", junior, AS_OF)
    assert [r.rule for r in verdict.reasons if not r.ok] == ["education"]
    assert evaluate(RULESETS.baseline, "care_assistant", junior, AS_OF).eligible
    nurturer = _with(_without_kinds(QUALIFIED, {"childcare_worker"}), _held("infant_nurturer"))
    verdict = evaluate(hangjin, "care_assistant", nurturer, AS_OF)
    assert [r.rule for r in verdict.reasons if not r.ok] == ["qualification_certificate"]


def test_security_guards_need_their_dispatching_company_and_its_licence():
    for change in ({"dispatch_company": None}, {"dispatch_licence": "  "}, {}):
        record = dataclasses.replace(QUALIFIED, **change)
        reason = _reason(evaluate(RULESETS.baseline, "security_guard", record, AS_OF), "dispatch")
        assert reason.ok is (not change)
    missing = dataclasses.replace(QUALIFIED, dispatch_company=None, dispatch_licence=None)
    reason = _reason(evaluate(RULESETS.baseline, "security_guard", missing, AS_OF), "dispatch")
    assert "派遣保安服务公司和保安服务许可证号" in reason.message


def test_an_unregistered_person_fails_with_reasons():
    verdict = evaluate(RULESETS.baseline, "caregiver", Record(registered=False), AS_OF)
    assert not verdict.eligible
    assert {r.rule: r.ok for r in verdict.reasons} == {
        "not_barred": True,
        "health_certificate": False,
        "background": False,
        "training": False,
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


@pytest.mark.parametrize(
    ("examined", "expires", "as_of", "ok"),
    [
        (date(2026, 6, 1), None, AS_OF, True),  # examined that day
        (date(2025, 6, 2), None, AS_OF, True),  # the day before the anniversary
        (date(2025, 6, 1), None, AS_OF, False),  # the anniversary
        (date(2025, 6, 1), date(2026, 6, 1), AS_OF, False),  # a later stated expiry: no
        (date(2026, 1, 5), date(2026, 5, 31), AS_OF, False),  # an earlier one holds
        (date(2026, 1, 5), date(2026, 6, 1), AS_OF, True),
        # A 29 February: the anniversary is 1 March.
        (date(2024, 2, 29), None, date(2025, 2, 28), True),
        (date(2024, 2, 29), None, date(2025, 3, 1), False),
        (date(2023, 3, 1), None, date(2024, 2, 29), True),  # across a leap day: 365 days
        (date(2023, 3, 1), None, date(2024, 3, 1), False),
    ],
    ids=[
        "examined-that-day",
        "eve-of-anniversary",
        "anniversary",
        "stated-later",
        "stated-earlier",
        "stated-that-day",
        "leap-day-eve",
        "leap-day-anniversary",
        "across-leap-day-eve",
        "across-leap-day",
    ],
)
def test_a_health_certificate_holds_until_the_eve_of_its_anniversary(examined, expires, as_of, ok):
    record = _with(
        _without_kinds(QUALIFIED, {"health_certificate"}),
        _held("health_certificate", issued=examined, expires=expires),
    )
    reason = _reason(evaluate(RULESETS.baseline, "cook", record, as_of), "health_certificate")
    assert reason.ok is ok, reason.message
    if not ok and expires is None:
        assert str(last_day_of_year_from(examined)) in reason.message


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


MAJORS = [
    # name as typed, national (any related group), 杭锦旗 (infant care only), found
    ("学前教育", True, True, "学前教育"),
    ("学前教育 专业", True, True, "学前教育"),
    ("学前教育专业", True, True, "学前教育"),
    ("早期 教育", True, True, "早期教育"),
    ("幼儿教育", True, True, "学前教育"),  # an alias
    ("婴幼儿托育服务与管理", True, True, "婴幼儿托育服务与管理"),
    ("护理", True, False, "护理"),
    ("护理学", True, False, "护理"),
    ("特殊教育", True, False, "特殊教育"),
    ("小学教育", True, False, "小学教育"),
    # Containing an accepted name is not being one.
    ("宠物护理", False, False, None),
    ("学前教育管理", False, False, None),
    ("护理学前教育", False, False, None),
    ("护理（宠物方向）", False, False, None),  # a bracketed note is not dropped
    ("学前教育（师范）", False, False, None),  # unknown until the bureau adds an alias
    ("会计", False, False, None),
    (None, False, False, None),
]


@pytest.mark.parametrize(("major", "national", "hangjin", "found"), MAJORS)
def test_majors_match_by_vocabulary_never_by_substring(major, national, hangjin, found):
    record = dataclasses.replace(QUALIFIED, experience=(), major=major)
    verdict = evaluate(RULESETS.baseline, "caregiver", record, AS_OF)
    assert _reason(verdict, "background").ok is national
    # 杭锦旗: 婴幼儿照护专业背景, and experience does not replace it.
    worked = dataclasses.replace(record, experience=QUALIFIED.experience)
    verdict = evaluate(RULESETS.for_district("杭锦旗"), "caregiver", worked, AS_OF)
    assert _reason(verdict, "background").ok is hangjin
    assert evaluate(RULESETS.baseline, "caregiver", worked, AS_OF).eligible
    known = RULESETS.baseline.majors.find(major)
    assert (known and known.name) == found


def test_an_unknown_major_is_reported_with_the_accepted_list():
    record = dataclasses.replace(QUALIFIED, experience=(), major="宠物护理")
    reason = _reason(evaluate(RULESETS.baseline, "caregiver", record, AS_OF), "background")
    assert "未知专业" in reason.message and "unknown" in reason.message
    for accepted in ("学前教育", "护理", "小学教育"):
        assert accepted in reason.message
    reason = _reason(
        evaluate(RULESETS.for_district("杭锦旗"), "caregiver", record, AS_OF), "background"
    )
    assert "学前教育" in reason.message and "小学教育" not in reason.message
    known = dataclasses.replace(record, major="护理")
    reason = _reason(
        evaluate(RULESETS.for_district("杭锦旗"), "caregiver", known, AS_OF), "background"
    )
    assert "医学卫生类" in reason.message and "婴幼儿照护类" in reason.message


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
        # Three years are ⌈3 × 365.25⌉ = 1,096 days: the 1,096th day passes, the 1,095th
        # does not, whether or not the span holds a 29 February.
        ([_management(AS_OF - timedelta(days=1095), AS_OF)], True),
        ([_management(AS_OF - timedelta(days=1094), AS_OF)], False),
        ([_management(date(2021, 1, 1), date(2024, 1, 1))], True),
        ([_management(date(2021, 1, 1), date(2023, 12, 31))], False),
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
        "1096-days",
        "1095-days",
        "1096-days-without-leap-day",
        "1095-days-without-leap-day",
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


@pytest.mark.parametrize(("years", "days"), [(1, 366), (2, 731), (3, 1096), (5, 1827)])
def test_n_years_are_the_ceiling_of_n_times_365_25_days(years, days):
    assert days_for_years(years) == days


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
