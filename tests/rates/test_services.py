"""The certification rate as the README defines it, clause by clause, on small institutions.
Employments are recorded directly: the rate must count staff that hiring, which checks
qualifications, would not have let in (certificates expire and are revoked later)."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.auth.models import SystemActor
from registry.credentials import services as credentials
from registry.credentials.models import Certificate
from registry.errors import Invalid
from registry.identity import uscc_check_char
from registry.rates import services
from tests.conftest import CODES

DAY = date(2026, 6, 1)
BEFORE, AFTER = date(2026, 5, 31), date(2026, 6, 2)
ISSUED = date(2024, 1, 10)


def _revoke(session, person, on):
    certificate = session.scalars(
        sa.select(Certificate).where(Certificate.person_id == person.id)
    ).first()
    credentials.revoke(session, SystemActor("test"), certificate, "forged", on)


def _figures(report, key="code"):
    return {
        entry[key]: (entry["staff"], entry["certified"], entry["rate"], entry["meets_target"])
        for entry in report["institutions" if key == "code" else "districts"]
    }


def test_every_clause_of_the_definition(app, session, make_institution, make_person, employ):
    xihu = make_institution(CODES[0], district="西湖区")
    person = iter(range(1, 100))

    def staff(role, certificates=(), **employment):
        someone = make_person(next(person), certificates=certificates)
        employ(someone, xihu, role, **employment)
        return someone

    # Counted and certified.
    staff("caregiver", [("childcare_worker", ISSUED)])
    staff("caregiver", [("infant_nurturer", ISSUED, DAY)])  # expires on the day: still valid
    staff("director", [("director_training", ISSUED)])
    staff("nurse", [("nurse_license", ISSUED, date(2029, 1, 1))])
    staff("security_guard", [("security_guard", ISSUED)])
    staff("care_assistant", [("childcare_worker", DAY)])  # issued on the day
    staff("caregiver", [("childcare_worker", ISSUED)], end=DAY)  # last day in post
    revoked_later = staff("caregiver", [("kindergarten_teacher", ISSUED)])
    _revoke(session, revoked_later, AFTER)
    # Counted, not certified.
    staff("caregiver", [("infant_nurturer", ISSUED, BEFORE)])  # expired
    revoked = staff("caregiver", [("childcare_worker", ISSUED)])
    _revoke(session, revoked, DAY)  # revoked on the day
    staff("care_assistant", [("childcare_worker", AFTER)])  # issued after the date
    staff("care_assistant", [("infant_nurturer", ISSUED)])  # a kind not for this role
    staff("director", [("health_certificate", ISSUED), ("caregiver_training", ISSUED)])
    # Not counted at all.
    staff("caregiver", [("childcare_worker", ISSUED)], end=BEFORE)  # ended
    staff("caregiver", [("childcare_worker", ISSUED)], start=AFTER)  # starts later
    staff("cook", [("health_certificate", ISSUED)])  # a role that does not count
    # One person in two roles counts once per employment.
    both = staff("caregiver", [("childcare_worker", ISSUED)])
    employ(both, xihu, "nurse")

    with app.app_context():
        report = services.rates(session, DAY)
    # 8 + 1 certified; 8 + 5 + 2 counted.
    assert _figures(report) == {CODES[0]: (15, 9, 0.6, False)}
    [institution] = report["institutions"]
    assert institution["target"] == 0.9 and institution["district"] == "西湖区"


def test_no_staff_no_rate_and_no_target_no_verdict(
    app, session, make_institution, make_person, employ
):
    make_institution(CODES[0], district="西湖区")
    yongan = make_institution(CODES[1], name="永安市托育园", district="永安市")
    employ(make_person(1, certificates=[("childcare_worker", ISSUED)]), yongan, "caregiver")
    cooks_only = make_institution(CODES[2], name="食堂托育园", district="余姚市")
    employ(make_person(2), cooks_only, "cook")

    with app.app_context():
        report = services.rates(session, DAY)
    assert _figures(report) == {
        CODES[0]: (0, 0, None, None),
        CODES[1]: (1, 1, 1.0, None),  # 永安市 sets no target
        CODES[2]: (0, 0, None, None),
    }
    targets = {i["code"]: i["target"] for i in report["institutions"]}
    assert targets == {CODES[0]: 0.9, CODES[1]: None, CODES[2]: 0.8}


def test_the_target_is_met_exactly_at_the_line(app, session, make_institution, make_person, employ):
    """9 of 10 meets 90 %; floats must not make it 0.8999…"""
    xihu = make_institution(CODES[0], district="西湖区")
    for i in range(10):
        certificates = [("childcare_worker", ISSUED)] if i < 9 else []
        employ(make_person(i + 1, certificates=certificates), xihu, "caregiver")
    with app.app_context():
        assert _figures(services.rates(session, DAY)) == {CODES[0]: (10, 9, 0.9, True)}


def test_districts_roll_up_under_every_spelling(
    app, session, make_institution, make_person, employ
):
    first = make_institution(CODES[0], district="西湖区")
    second = make_institution(CODES[1], name="西湖区第二托育园", district="杭州市西湖区")
    yuyao = make_institution(CODES[2], name="余姚市阳光托育园", district="余姚市")
    make_institution(CODES[3], name="空园", district="杭州市 西湖区")
    certified = [("childcare_worker", ISSUED)]
    employ(make_person(1, certificates=certified), first, "caregiver")
    employ(make_person(2), first, "caregiver")
    employ(make_person(3, certificates=certified), second, "caregiver")
    employ(make_person(4, certificates=certified), yuyao, "caregiver")

    with app.app_context():
        report = services.rates(session, DAY)
        assert _figures(report, key="district") == {
            "杭州市西湖区": (3, 2, round(2 / 3, 4), False),
            "余姚市": (1, 1, 1.0, True),
        }
        assert [d["institutions"] for d in report["districts"]] == [1, 3]

        only = services.rates(session, DAY, district="杭州市西湖区")
        assert {i["code"] for i in only["institutions"]} == set(CODES[:2]) | {CODES[3]}
        assert [d["district"] for d in only["districts"]] == ["杭州市西湖区"]
        assert services.rates(session, DAY, district=" 西湖区 ") == only


def test_a_district_nobody_is_registered_in(app, session, make_institution):
    make_institution(CODES[0], district="西湖区")
    with app.app_context():
        report = services.rates(session, DAY, district="余姚市")
        assert report["institutions"] == []
        assert report["districts"] == [
            {
                "district": "余姚市",
                "institutions": 0,
                "staff": 0,
                "certified": 0,
                "rate": None,
                "target": 0.8,
                "meets_target": None,
                "due": True,
                "due_on": date(2025, 12, 31),
            }
        ]
        with pytest.raises(Invalid) as caught:
            services.rates(session, DAY, district="火星区")
        assert "火星区" in caught.value.message


def test_explain_adds_up_to_the_figure(app, session, make_institution, make_person, employ):
    xihu = make_institution(CODES[0], district="西湖区")
    employ(
        make_person(1, name="甲", certificates=[("childcare_worker", ISSUED)]), xihu, "caregiver"
    )
    employ(
        make_person(2, name="乙", certificates=[("infant_nurturer", ISSUED, BEFORE)]),
        xihu,
        "caregiver",
    )
    employ(make_person(3, name="丙"), xihu, "nurse")
    employ(make_person(4, name="丁"), xihu, "cook")

    with app.app_context():
        explanation = services.explain(session, xihu, DAY)
        figure = services.institution_rate(session, xihu, DAY)
    assert {k: explanation[k] for k in figure} == figure
    assert (figure["staff"], figure["certified"]) == (3, 1)
    by_name = {s["name"]: s for s in explanation["counted"]}
    assert set(by_name) == {"甲", "乙", "丙"}
    assert by_name["甲"]["certified"] and by_name["甲"]["certificate"]["kind"] == "childcare_worker"
    assert by_name["乙"]["reason"] == (
        f"证书 infant_nurturer 2-infant_nurturer-0：已于 {BEFORE} 过期"
        f"（infant_nurturer 2-infant_nurturer-0: expired on {BEFORE}）"
    )
    assert by_name["丙"]["reason"].startswith("没有可计入的证书种类")
    assert "no certificate of the kinds that count" in by_name["丙"]["reason"]
    assert by_name["甲"]["id_number"].startswith("110***") and "*" in by_name["甲"]["id_number"]


@pytest.mark.parametrize("count", [2, 20])
def test_one_query_however_many_institutions(
    app, session, make_institution, make_person, employ, count
):
    for i in range(count):
        first17 = f"52330100MA{i:07d}"
        institution = make_institution(first17 + uscc_check_char(first17), name=f"园{i}")
        employ(
            make_person(i + 1, certificates=[("childcare_worker", ISSUED)]), institution, "nurse"
        )
    statements = []
    engine = session.get_bind().engine

    def count_statement(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count_statement)
    try:
        with app.app_context():
            report = services.rates(session, DAY)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_statement)
    assert len(report["institutions"]) == count
    assert all(i["staff"] == 1 and i["certified"] == 0 for i in report["institutions"])
    assert len(statements) == 1
