"""Hiring through the rules, ending, the roster, compliance and expiring certificates."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from registry import clock
from registry.audit import AuditEvent
from registry.eligibility.rules import last_day_of_year_from
from registry.staffing.models import Employment
from tests.conftest import CODES, id_number
from tests.eligibility.test_views import ban

TODAY = clock.today()
RECENT = TODAY - timedelta(days=30)
COOK = [("health_certificate", RECENT)]
NURSE = [("health_certificate", RECENT), ("health_care_training", date(2022, 1, 1))]
CAREGIVER = [
    ("health_certificate", RECENT),
    ("caregiver_training", date(2022, 1, 1)),
    ("childcare_worker", date(2022, 1, 1)),
]


@pytest.fixture
def institution(make_institution):
    return make_institution(
        classes=[{"type": "infant", "children": 6}, {"type": "toddler", "children": 10}],
    )


@pytest.fixture
def director(make_user, institution):
    return make_user("director", institution)[1]


def _hire(client, headers, number, role="cook", code=CODES[0], **changes):
    body = {
        "id_number": number,
        "role": role,
        "start": TODAY.isoformat(),
        "declaration": True,
        **changes,
    }
    return client.post(f"/api/v1/institutions/{code}/employments", json=body, headers=headers)


def _employments(session):
    return session.scalar(sa.select(sa.func.count()).select_from(Employment))


def test_a_director_hires_an_eligible_person(client, session, director, make_person):
    person = make_person(1, certificates=COOK)
    response = _hire(client, director, id_number(1).lower())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (
        body["person_id"] == person.public_id
        and body["role"] == "cook"
        and body["full_time"] is True
    )
    employment = session.get(Employment, body["id"])
    assert employment.declaration_at is not None and employment.declared_by_id is not None
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "employment.started"))
    assert event.data["declaration"] is True and event.data["person_id"] == person.id


def test_the_unqualified_are_refused_with_reasons(client, session, director, make_person):
    make_person(1, certificates=COOK)
    response = _hire(client, director, id_number(1), role="caregiver")
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "not_eligible" and body["barred"] is False
    failed = {r["rule"] for r in body["reasons"] if not r["ok"]}
    assert failed == {"background", "training", "qualification_certificate"}
    assert all(r["source"] for r in body["reasons"])
    assert _employments(session) == 0
    refused = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "employment.refused"))
    assert sorted(refused.data["failed"]) == sorted(failed)


def test_the_barred_are_refused(app, client, session, director, make_person):
    make_person(1, certificates=COOK)
    ban(app, session, id_number(1))
    body = _hire(client, director, id_number(1)).get_json()
    assert body["code"] == "not_eligible" and body["barred"] is True
    assert [r["rule"] for r in body["reasons"] if not r["ok"]] == ["not_barred"]
    assert _employments(session) == 0


def test_the_unregistered_are_refused(client, session, director):
    body = _hire(client, director, id_number(8)).get_json()
    assert body["code"] == "not_eligible"
    assert _employments(session) == 0


def test_eligibility_is_judged_on_the_start_date(client, director, make_person):
    make_person(1, certificates=[("health_certificate", date(2020, 1, 1))])
    assert _hire(client, director, id_number(1)).status_code == 409
    assert _hire(client, director, id_number(1), start="2020-06-01").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"declaration": False}, "declaration"),
        ({"declaration": "yes"}, "declaration"),
        ({"role": "nanny"}, "role"),
        ({"start": "2026-13-01"}, "start"),
        ({"id_number": "1234"}, "id_number"),
    ],
)
def test_bad_hires_name_the_field(client, session, director, make_person, change, field):
    make_person(1, certificates=COOK)
    body = {
        "id_number": id_number(1),
        "role": "cook",
        "start": TODAY.isoformat(),
        "declaration": True,
        **change,
    }
    response = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments", json=body, headers=director
    )
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert _employments(session) == 0


def test_a_declaration_is_required(client, session, director, make_person):
    make_person(1, certificates=COOK)
    body = {"id_number": id_number(1), "role": "cook", "start": TODAY.isoformat()}
    response = client.post(
        f"/api/v1/institutions/{CODES[0]}/employments", json=body, headers=director
    )
    assert response.status_code == 422 and "declaration" in response.get_json()["errors"]


def test_the_same_role_twice_is_409(client, director, make_person):
    make_person(1, certificates=COOK)
    first = _hire(client, director, id_number(1)).get_json()
    again = _hire(client, director, id_number(1))
    assert again.status_code == 409 and again.get_json()["id"] == first["id"]
    assert _hire(client, director, id_number(1), role="other").status_code == 201


def test_a_director_hires_only_for_the_own_institution(
    client, make_user, make_institution, director, make_person
):
    make_institution(code=CODES[1])
    make_person(1, certificates=COOK)
    assert _hire(client, director, id_number(1), code=CODES[1]).status_code == 403
    _, bureau = make_user("bureau")
    assert _hire(client, bureau, id_number(1), code=CODES[1]).status_code == 201


def test_ending_an_employment(client, session, director, make_person):
    make_person(1, certificates=COOK)
    start = TODAY - timedelta(days=10)
    employment = _hire(client, director, id_number(1), start=start.isoformat()).get_json()
    url = f"/api/v1/employments/{employment['id']}/end"
    before = client.post(
        url, json={"end": (start - timedelta(days=1)).isoformat()}, headers=director
    )
    assert before.status_code == 422 and "end" in before.get_json()["errors"]
    assert session.get(Employment, employment["id"]).end is None
    response = client.post(url, json={"end": start.isoformat()}, headers=director)
    assert response.status_code == 200 and response.get_json()["end"] == start.isoformat()
    assert client.post(url, json={"end": TODAY.isoformat()}, headers=director).status_code == 409
    missing = client.post(
        "/api/v1/employments/999999/end", json={"end": "2026-04-30"}, headers=director
    )
    assert missing.status_code == 404


def test_another_director_does_not_end_it(
    client, make_user, make_institution, director, make_person
):
    make_person(1, certificates=COOK)
    employment = _hire(client, director, id_number(1)).get_json()
    _, other = make_user("director", make_institution(code=CODES[1]))
    response = client.post(
        f"/api/v1/employments/{employment['id']}/end",
        json={"end": TODAY.isoformat()},
        headers=other,
    )
    assert response.status_code == 404  # as if it did not exist


def test_the_roster_shows_who_is_in_post(client, director, make_person):
    make_person(1, name="李娜", certificates=COOK)
    make_person(2, name="张伟", certificates=COOK)
    start, last_day = TODAY - timedelta(days=20), TODAY - timedelta(days=10)
    _hire(client, director, id_number(1), start=start.isoformat())
    left = _hire(client, director, id_number(2), start=start.isoformat()).get_json()
    client.post(
        f"/api/v1/employments/{left['id']}/end",
        json={"end": last_day.isoformat()},
        headers=director,
    )
    url = f"/api/v1/institutions/{CODES[0]}/employments?as_of="
    on_last_day = client.get(url + last_day.isoformat(), headers=director).get_json()
    assert [e["name"] for e in on_last_day] == ["李娜", "张伟"]
    after = client.get(
        url + (last_day + timedelta(days=1)).isoformat(), headers=director
    ).get_json()
    assert [e["name"] for e in after] == ["李娜"]


# -- compliance ---------------------------------------------------------------------------


def _staff(client, director, make_person, roles, first=10):
    """Hire a person for each (role, full_time) pair, numbered from ``first``."""
    for i, (role, full_time) in enumerate(roles, start=first):
        certificates = {"caregiver": CAREGIVER, "nurse": NURSE}.get(role, COOK)
        make_person(i, certificates=certificates, major="学前教育")
        response = _hire(client, director, id_number(i), role=role, full_time=full_time)
        assert response.status_code == 201, response.get_json()


def _compliance(client, headers, code=CODES[0]):
    response = client.get(f"/api/v1/institutions/{code}/compliance", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _set(client, headers, **body):
    response = client.patch(f"/api/v1/institutions/{CODES[0]}", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()


def test_a_fully_staffed_institution_complies(client, director, make_person):
    # 6 infants need 2 caregivers, 10 toddlers 2: four caregivers, one health staff.
    _staff(client, director, make_person, [("caregiver", True)] * 4 + [("other", True)])
    body = _compliance(client, director)
    assert body["shortfalls"][0]["rule"] == "health_staff"  # "other" is not health staff
    assert body["staff"]["caregivers_required"] == 4 and body["staff"]["caregivers"] == 4


@pytest.mark.parametrize(
    ("classes", "meals", "roles", "rules"),
    [
        # 6 + 10 children: caregivers 2 + 2, one health staff; compliant.
        (None, False, [("caregiver", True)] * 4, set()),
        (None, False, [("caregiver", True)] * 3, {"caregiver_ratio"}),
        ([{"type": "infant", "children": 11}], False, [("caregiver", True)] * 4, {"class_size"}),
        (
            [{"type": "mixed", "children": 18}],
            False,
            [("caregiver", True)] * 3,
            {"caregiver_ratio"},
        ),
        ([{"type": "mixed", "children": 18}], False, [("caregiver", True)] * 4, set()),
        (None, True, [("caregiver", True)] * 4, {"cooks"}),
        (None, True, [("caregiver", True)] * 4 + [("cook", False)], set()),
    ],
    ids=[
        "staffed",
        "a-caregiver-short",
        "oversized",
        "mixed-1-to-5-short",
        "mixed-1-to-5",
        "no-cook",
        "cook",
    ],
)
def test_each_kind_of_shortfall(
    client, director, make_person, classes, meals, roles, rules, make_user
):
    _, bureau = make_user("bureau")
    _set(client, bureau, meals_on_site=meals, **({"classes": classes} if classes else {}))
    _staff(client, director, make_person, [*roles, ("nurse", False)])
    body = _compliance(client, director)
    assert {s["rule"] for s in body["shortfalls"]} == rules, body
    assert body["compliant"] is (not rules)
    assert all(s["source"] and s["message"] for s in body["shortfalls"])


def test_health_staff_one_full_time_per_150_children(client, director, make_person, make_user):
    _, bureau = make_user("bureau")
    _set(client, bureau, classes=[{"type": "preschool", "children": 15}] * 10)  # 150
    _staff(client, director, make_person, [("caregiver", True)] * 30)
    shortfalls = {s["rule"] for s in _compliance(client, director)["shortfalls"]}
    assert shortfalls == {"health_staff"}
    # 150名以下 includes 150: a part-time health staff is enough.
    _staff(client, director, make_person, [("nurse", False)], first=100)
    body = _compliance(client, director)
    assert body["compliant"] is True and body["shortfalls"] == []
    assert body["staff"]["health_staff_full_time_required"] == 0
    # 151 children need two full-time health staff.
    _set(
        client,
        bureau,
        classes=[{"type": "preschool", "children": 15}] * 10
        + [{"type": "preschool", "children": 1}],
    )
    _staff(client, director, make_person, [("caregiver", True)], first=102)
    body = _compliance(client, director)
    assert {s["rule"] for s in body["shortfalls"]} == {"health_staff_full_time"}
    assert body["staff"]["health_staff_full_time_required"] == 2
    assert "150" in body["shortfalls"][0]["source"]
    _staff(client, director, make_person, [("nurse", True)] * 2, first=103)
    assert _compliance(client, director)["compliant"] is True


def test_without_children_only_the_health_staff_is_required(
    client, director, make_user, make_person
):
    _, bureau = make_user("bureau")
    _set(client, bureau, classes=[], meals_on_site=True)
    body = _compliance(client, director)
    assert [s["rule"] for s in body["shortfalls"]] == ["health_staff"] and body["children"] == 0
    _staff(client, director, make_person, [("nurse", False)])
    assert _compliance(client, director)["compliant"] is True


def test_a_director_records_classes_but_not_the_district(client, director, session, institution):
    _set(client, director, classes=[{"type": "toddler", "children": 12}], meals_on_site=True)
    session.expire_all()
    assert [(c.type, c.children) for c in institution.classes] == [("toddler", 12)]
    response = client.patch(
        f"/api/v1/institutions/{CODES[0]}", json={"district": "滨江区"}, headers=director
    )
    assert response.status_code == 403 and "district" in response.get_json()["errors"]
    session.expire_all()
    assert institution.district == "西湖区"
    bad = client.patch(
        f"/api/v1/institutions/{CODES[0]}",
        json={"classes": [{"type": "infant", "children": -1}]},
        headers=director,
    )
    assert bad.status_code == 422 and [(c.type, c.children) for c in institution.classes] == [
        ("toddler", 12)
    ]


# -- expiring certificates -----------------------------------------------------------------


def test_expiring_certificates_soonest_first(client, director, make_person):
    # Examined 300 days before the expiry each states.
    soon, later, far = (
        (TODAY - timedelta(days=300 - d), TODAY + timedelta(days=d)) for d in (10, 40, 200)
    )
    make_person(1, name="甲", certificates=[("health_certificate", *later)])
    make_person(2, name="乙", certificates=[("health_certificate", *soon)])
    make_person(3, name="丙", certificates=[("health_certificate", *far)])
    # 丁 has a newer health certificate already: nothing to do.
    make_person(
        4, name="丁", certificates=[("health_certificate", *soon), ("health_certificate", RECENT)]
    )
    make_person(5, name="戊", certificates=[("health_certificate", *soon)])  # not in post
    for i in (1, 2, 3, 4):
        assert (
            _hire(
                client, director, id_number(i), start=(TODAY - timedelta(days=100)).isoformat()
            ).status_code
            == 201
        )
    response = client.get(f"/api/v1/institutions/{CODES[0]}/expiring?within=90", headers=director)
    assert response.status_code == 200, response.get_json()
    rows = response.get_json()
    assert [(r["name"], r["days_left"]) for r in rows] == [("乙", 10), ("甲", 40)]
    assert rows[0]["certificate"]["kind"] == "health_certificate" and rows[0]["roles"] == ["cook"]
    bad = client.get(f"/api/v1/institutions/{CODES[0]}/expiring?within=-1", headers=director)
    assert bad.status_code == 422 and "within" in bad.get_json()["errors"]


def test_a_refused_hire_of_an_unregistered_number_is_traceable(client, session, director):
    _hire(client, director, id_number(8))
    refused = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "employment.refused"))
    assert refused.subject.startswith("index:") and id_number(8) not in refused.subject


@pytest.mark.parametrize("start", ["9999-12-31", "1899-12-31"])
def test_dates_outside_the_registry_are_refused(client, director, make_person, start):
    make_person(1, certificates=COOK)
    response = _hire(client, director, id_number(1), start=start)
    assert response.status_code == 422 and "start" in response.get_json()["errors"]
    far = client.get(f"/api/v1/institutions/{CODES[0]}/expiring?as_of=9999-12-01", headers=director)
    assert far.status_code == 422 and "as_of" in far.get_json()["errors"]


def test_expired_certificates_of_staff_in_post_come_first(client, director, make_person):
    # Examined 300 days ago, valid through the day before the examination's anniversary.
    examined = TODAY - timedelta(days=300)
    make_person(1, name="甲", certificates=[("health_certificate", examined)])
    assert (
        _hire(
            client, director, id_number(1), start=(TODAY - timedelta(days=200)).isoformat()
        ).status_code
        == 201
    )
    recent = TODAY - timedelta(days=30)
    make_person(2, name="乙", certificates=[("health_certificate", recent)])
    assert _hire(client, director, id_number(2), start=TODAY.isoformat()).status_code == 201
    # 甲's certificate lapses while in post.
    later = (TODAY + timedelta(days=100)).isoformat()
    url = f"/api/v1/institutions/{CODES[0]}/expiring?within=400&as_of={later}"
    rows = client.get(url, headers=director).get_json()
    later = date.fromisoformat(later)
    assert [(r["name"], r["state"], r["days_left"], r["days_expired"]) for r in rows] == [
        ("甲", "expired", None, (later - last_day_of_year_from(examined)).days),
        ("乙", "expiring", (last_day_of_year_from(recent) - later).days, None),
    ]
    assert rows[0]["certificate"]["expires_on"] == last_day_of_year_from(examined).isoformat()


def test_an_institution_says_which_rules_it_is_held_to(
    client, director, make_user, make_institution
):
    assert (
        client.get(f"/api/v1/institutions/{CODES[0]}", headers=director).get_json()["ruleset"]
        == "xihu"
    )
    make_institution(code=CODES[1], district="浙江省杭州市滨江区")
    _, bureau = make_user("bureau")
    assert (
        client.get(f"/api/v1/institutions/{CODES[1]}", headers=bureau).get_json()["ruleset"]
        == "national"
    )


# -- severities, security guards, targets -------------------------------------------------

START = "2026-06-01"
EXAMINED = date(2026, 3, 1)
TRAINED = [("health_certificate", EXAMINED), ("caregiver_training", date(2024, 1, 1))]
GUARD = [("health_certificate", EXAMINED), ("security_guard", date(2020, 1, 1))]
DISPATCH = {"dispatch_company": "杭州市保安服务有限公司", "dispatch_licence": "浙公保服许字001号"}


@pytest.fixture
def yongan(make_institution, make_user):
    institution = make_institution(code=CODES[1], name="永安市托育园", district="永安市")
    return institution, make_user("director", institution)[1]


def test_hiring_shows_advisory_rules_and_does_not_refuse_on_them(
    client, session, yongan, make_person
):
    _, director = yongan
    make_person(1, major="学前教育", certificates=TRAINED)
    response = _hire(client, director, id_number(1), "caregiver", CODES[1], start=START)
    assert response.status_code == 201, response.get_json()
    advisories = response.get_json()["advisories"]
    assert [(a["rule"], a["severity"], a["ok"]) for a in advisories] == [
        ("qualification_certificate", "advisory", False)
    ]
    assert "永政办〔2021〕64号" in advisories[0]["source"]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "employment.started"))
    assert event.data["advisories"] == ["qualification_certificate"]


def test_hiring_refuses_on_required_rules_and_shows_both(client, session, yongan, make_person):
    _, director = yongan
    make_person(1, major="宠物护理", certificates=[("health_certificate", EXAMINED)])
    response = _hire(client, director, id_number(1), "caregiver", CODES[1], start=START)
    assert response.status_code == 409
    failed = {r["rule"]: r["severity"] for r in response.get_json()["reasons"] if not r["ok"]}
    assert failed == {
        "background": "required",
        "training": "required",
        "qualification_certificate": "advisory",
    }
    assert _employments(session) == 0
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "employment.refused"))
    assert event.data["failed"] == ["background", "training"]


def test_a_security_guard_is_hired_with_the_dispatching_company(
    client, session, director, make_person
):
    make_person(1, certificates=GUARD)
    refused = _hire(client, director, id_number(1), "security_guard", start=START)
    assert refused.status_code == 409
    assert [r["rule"] for r in refused.get_json()["reasons"] if not r["ok"]] == ["dispatch"]
    response = _hire(client, director, id_number(1), "security_guard", start=START, **DISPATCH)
    assert response.status_code == 201, response.get_json()
    employment = session.get(Employment, response.get_json()["id"])
    assert employment.dispatch_company == "杭州市保安服务有限公司"
    assert employment.dispatch_licence == "浙公保服许字001号"
    assert response.get_json()["dispatch_licence"] == "浙公保服许字001号"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"role": "cook", **DISPATCH}, "dispatch_company"),
        ({"role": "security_guard", "dispatch_licence": "x" * 65}, "dispatch_licence"),
        ({"role": "security_guard", "dispatch_company": "  "}, "dispatch_company"),
    ],
)
def test_bad_dispatch_details_name_the_field(
    client, session, director, make_person, changes, field
):
    make_person(1, certificates=GUARD)
    response = _hire(client, director, id_number(1), start=START, **changes)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert _employments(session) == 0


@pytest.mark.parametrize(
    ("as_of", "severity"), [("2025-12-30", "advisory"), ("2025-12-31", "required")]
)
def test_compliance_shows_a_target_as_due_or_not_yet(
    client, session, institution, director, make_person, make_user, as_of, severity
):
    _, bureau = make_user("bureau")
    _set(client, bureau, classes=[])
    # Recorded directly: a caregiver of two and the nurse certified, 2 of 3 against 90 %.
    for i, certificates in ((1, [("childcare_worker", date(2024, 1, 1))]), (2, []), (3, NURSE)):
        person = make_person(i, certificates=certificates)
        role = "nurse" if i == 3 else "caregiver"
        session.add(
            Employment(
                person_id=person.id,
                institution_id=institution.id,
                role=role,
                start=date(2025, 7, 1),
                declaration_at=datetime(2025, 7, 1, tzinfo=UTC),
            )
        )
    session.flush()
    body = client.get(
        f"/api/v1/institutions/{CODES[0]}/compliance?as_of={as_of}", headers=director
    ).get_json()
    due = severity == "required"
    rate = next(c for c in body["checks"] if c["rule"] == "certification_rate")
    assert (rate["ok"], rate["severity"], rate["due"]) == (False, severity, due)
    assert rate["due_on"] == "2025-12-31" and "西政办函〔2021〕15号" in rate["source"]
    assert body["certification"]["rate"] == 0.6667 and body["certification"]["due"] is due
    assert body["compliant"] is not due
    assert [s["rule"] for s in body["shortfalls"]] == ["certification_rate"]
    assert ("目标于2025-12-31到期" in rate["message"]) is not due
