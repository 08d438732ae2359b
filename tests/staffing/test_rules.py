"""The institution rules, one check each, at both sides of each boundary: pure
functions of what an institution has on a day, under each ruleset."""

from datetime import date

import pytest

from registry.eligibility.rulesets import load_rulesets
from registry.staffing.rules import CHECKS, Staffing, check_all

RULESETS = load_rulesets()
DAY = date(2026, 6, 1)


def _staffing(classes=(), roles=(), meals=False, rate=None, day=DAY):
    certification = {"rate": None, "staff": 0, "certified": 0, "meets_target": None}
    if rate is not None:
        certified, staff = rate
        target = 0.9
        certification = {
            "rate": certified / staff,
            "staff": staff,
            "certified": certified,
            "meets_target": certified / staff >= target,
        }
    return Staffing(
        day=day,
        classes=tuple(classes),
        meals_on_site=meals,
        in_post=tuple(roles),
        certification=certification,
    )


def _findings(rule, staffing, ruleset=RULESETS.baseline):
    return CHECKS[rule](staffing, ruleset)


CAREGIVER, NURSE_FT, NURSE_PT, COOK = (
    ("caregiver", True),
    ("nurse", True),
    ("nurse", False),
    (
        "cook",
        False,
    ),
)


@pytest.mark.parametrize(
    ("classes", "caregivers", "ok"),
    [
        ([("preschool", 20)], 3, True),  # a 20-child class with 3 caregivers (1:7)
        ([("preschool", 20)], 2, False),
        ([("preschool", 21)], 3, True),  # ratio met; the size is class_size's business
        ([("infant", 10)], 4, True),  # ceil(10 / 3)
        ([("infant", 10)], 3, False),
        ([("toddler", 15)], 3, True),
        ([("toddler", 16)], 3, False),
        ([("mixed", 18)], 4, True),  # 1:5 by default
        ([("mixed", 18)], 3, False),
        ([("infant", 6), ("toddler", 10)], 4, True),  # each class rounds up: 2 + 2
        ([("infant", 6), ("toddler", 10)], 3, False),
    ],
)
def test_caregiver_ratio(classes, caregivers, ok):
    care = [CAREGIVER] * (caregivers - 1) + [("care_assistant", False)] * min(caregivers, 1)
    (finding,) = _findings("caregiver_ratio", _staffing(classes, care))
    assert finding.ok is ok and finding.severity == "required"
    assert "托育机构设置标准" in finding.source
    if classes[0][0] == "mixed":
        assert "1:5" in finding.note  # the registry's default, not the standard's


@pytest.mark.parametrize(
    ("class_type", "children", "ok"),
    [
        ("infant", 10, True),
        ("infant", 11, False),
        ("toddler", 15, True),
        ("toddler", 16, False),
        ("preschool", 20, True),
        ("preschool", 21, False),
        ("mixed", 18, True),
        ("mixed", 19, False),
    ],
)
def test_class_size_includes_the_limit(class_type, children, ok):
    (finding,) = _findings("class_size", _staffing([(class_type, children)]))
    assert finding.ok is ok and str(RULESETS.baseline.classes[class_type].max_children) in (
        finding.message
    )


@pytest.mark.parametrize(
    ("children", "roles", "ok_any", "ok_full_time"),
    [
        (0, [], False, True),
        (0, [NURSE_PT], True, True),
        (150, [NURSE_PT], True, True),  # 150名以下 includes 150: part-time is enough
        (151, [NURSE_PT], True, False),
        (151, [NURSE_FT], True, False),  # 151 need two full-time
        (151, [NURSE_FT, NURSE_FT], True, True),
        (300, [NURSE_FT, NURSE_FT], True, True),
        (301, [NURSE_FT, NURSE_FT], True, False),
    ],
)
def test_health_staff(children, roles, ok_any, ok_full_time):
    staffing = _staffing([("preschool", children)] if children else [], roles)
    (any_,) = _findings("health_staff", staffing)
    (full_time,) = _findings("health_staff_full_time", staffing)
    assert (any_.ok, full_time.ok) == (ok_any, ok_full_time)
    assert "150" in full_time.source and full_time.note  # the article is not verified


@pytest.mark.parametrize(
    ("children", "cooks", "meals", "ok"),
    [(50, 1, True, True), (51, 1, True, False), (51, 2, True, True), (51, 0, False, None)],
)
def test_cooks_where_meals_are_cooked_on_site(children, cooks, meals, ok):
    findings = _findings("cooks", _staffing([("preschool", children)], [COOK] * cooks, meals))
    assert [f.ok for f in findings] == ([] if ok is None else [ok])
    for finding in findings:
        assert "WS/T 821-2023" in finding.source and "未能" in finding.note


@pytest.mark.parametrize(
    ("day", "severity"),
    [(date(2025, 12, 30), "advisory"), (date(2025, 12, 31), "required")],
)
def test_a_target_missed_before_its_year_ends_is_advisory(day, severity):
    xihu = RULESETS.for_district("西湖区")
    (finding,) = _findings("certification_rate", _staffing(rate=(8, 10), day=day), xihu)
    assert not finding.ok and finding.severity == severity
    assert finding.figures == {"due": severity == "required", "due_on": date(2025, 12, 31)}
    assert ("2025-12-31到期" in finding.message) is (severity == "advisory")
    (met,) = _findings("certification_rate", _staffing(rate=(9, 10), day=day), xihu)
    assert met.ok
    # No target, or no staff counted: nothing to report.
    assert _findings("certification_rate", _staffing(rate=(8, 10), day=day)) == []
    assert _findings("certification_rate", _staffing(day=day), xihu) == []


def test_every_rule_is_registered_with_its_source():
    assert list(CHECKS) == [
        "class_size",
        "caregiver_ratio",
        "health_staff",
        "health_staff_full_time",
        "cooks",
        "certification_rate",
    ]
    staffing = _staffing([("infant", 12), ("preschool", 20)], [CAREGIVER] * 9, True, (1, 2))
    findings = check_all(staffing, RULESETS.for_district("西湖区"))
    assert {f.rule for f in findings} == set(CHECKS)
    assert all(f.source and f.message for f in findings)
