"""The yearly re-screen as a service: the same report and alerts whatever the number of
people barred in post, in the same few statements."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.alerts.models import Alert
from registry.audit import AuditEvent
from registry.auth.models import SystemActor
from registry.bans import services
from registry.db import utcnow
from registry.identity import parse_identity
from registry.staffing.models import Employment
from tests.conftest import CODES, id_number
from tests.test_lists import statements

AS_OF = date(2026, 6, 30)
ACTOR = SystemActor("test")


@pytest.fixture
def barred_in_post(app, session, make_institution, make_person):
    """``grow(n)``: n people in post, spread over two institutions, each under a ban
    recorded before they were hired (so that no alert was raised for them yet), and one
    person in post under no ban. Returns ``{employment id: (code, public id, ban id)}``."""
    homes = [make_institution(CODES[0]), make_institution(CODES[1], name="西湖区第二托育园")]
    clear = make_person(900)
    session.add(
        Employment(
            person_id=clear.id,
            institution_id=homes[0].id,
            role="cook",
            start=date(2025, 1, 1),
            declaration_at=utcnow(),
        )
    )
    made, expected = [0], {}

    def grow(n):
        for i in range(made[0], n):
            person = make_person(i + 1, name=f"员工{i}")
            with app.app_context():
                ban, alerts = services.add_ban(
                    session,
                    ACTOR,
                    {
                        "identity": parse_identity(id_number(i + 1)),
                        "name": f"员工{i}",
                        "category": "other",
                        "authority": "西湖区卫生健康局",
                        "decision_no": f"西卫禁〔2026〕{i}号",
                        "effective_on": date(2026, 1, 1),
                    },
                )
            assert alerts == []  # not employed yet
            home = homes[i % 2]
            employment = Employment(
                person_id=person.id,
                institution_id=home.id,
                role="caregiver",
                start=date(2026, 2, 1),
                declaration_at=utcnow(),
            )
            session.add(employment)
            session.flush()
            expected[employment.id] = (home.code, person.public_id, ban.id)
        made[0] = n
        return expected

    return grow


def _alerts(session):
    return session.execute(
        sa.select(Alert.id, Alert.kind, Alert.employment_id, Alert.ban_id, Alert.institution_id)
    ).all()


def test_rescreen_runs_the_same_few_statements_for_2_hits_as_for_20(session, barred_in_post):
    counts = {}
    for n in (2, 20):
        expected = barred_in_post(n)
        before = {a.employment_id for a in _alerts(session)}
        with statements(session) as seen:
            report = services.rescreen(session, ACTOR, AS_OF)
        counts[n] = len(seen)
        assert report["employments"] == n + 1
        hits = {h["employment_id"]: h for h in report["barred"]}
        assert {e: (h["institution"], h["person_id"], h["ban_id"]) for e, h in hits.items()} == (
            expected
        )
        assert {e for e, h in hits.items() if h["new_alert"]} == set(expected) - before
        assert all(h["role"] == "caregiver" for h in hits.values())
        # An institution's hits together, in the order of their employments.
        order = [(h["institution"], h["employment_id"]) for h in report["barred"]]
        assert [e for _, e in order] == [
            e for _, e in sorted(order, key=lambda o: (CODES.index(o[0]), o[1]))
        ]
        # Every hit names its own alert, raised once, at the employment's institution.
        alerts = {a.id: a for a in _alerts(session)}
        assert len(alerts) == n
        for hit in report["barred"]:
            alert = alerts[hit["alert_id"]]
            assert (alert.kind, alert.employment_id, alert.ban_id) == (
                "ban",
                hit["employment_id"],
                hit["ban_id"],
            )
    assert counts[2] == counts[20]
    assert counts[20] <= 8, counts


def test_a_second_rescreen_names_the_alerts_already_raised_and_adds_none(session, barred_in_post):
    barred_in_post(3)
    first = services.rescreen(session, ACTOR, AS_OF)
    assert [h["new_alert"] for h in first["barred"]] == [True] * 3
    with statements(session) as seen:
        second = services.rescreen(session, ACTOR, AS_OF)
    assert not any(s.lstrip().upper().startswith("INSERT INTO ALERTS") for s in seen)
    assert [h["new_alert"] for h in second["barred"]] == [False] * 3
    assert [h["alert_id"] for h in second["barred"]] == [h["alert_id"] for h in first["barred"]]
    assert len(_alerts(session)) == 3
    events = session.execute(
        sa.select(AuditEvent.subject, AuditEvent.data)
        .where(AuditEvent.action == "rescreen.completed")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.subject, e.data) for e in events] == [
        ("rescreen:2026-06-30", {"employments": 4, "barred": 3, "new_alerts": 3}),
        ("rescreen:2026-06-30", {"employments": 4, "barred": 3, "new_alerts": 0}),
    ]


def test_a_pair_alerted_twice_is_reported_once_with_its_first_alert(session, barred_in_post):
    expected = barred_in_post(1)
    ((employment_id, (_, _, ban_id)),) = expected.items()
    institution_id = session.get(Employment, employment_id).institution_id
    twice = [
        Alert(kind="ban", ban_id=ban_id, employment_id=employment_id, institution_id=institution_id)
        for _ in range(2)
    ]
    session.add_all(twice)
    session.flush()
    report = services.rescreen(session, ACTOR, AS_OF)
    assert [(h["employment_id"], h["alert_id"], h["new_alert"]) for h in report["barred"]] == [
        (employment_id, min(a.id for a in twice), False)
    ]
    assert len(_alerts(session)) == 2


def test_nobody_in_post_on_the_day_is_nobody_barred(session, barred_in_post):
    barred_in_post(2)
    report = services.rescreen(session, ACTOR, date(2026, 1, 15))  # before they started
    assert (report["employments"], report["barred"]) == (1, [])
    assert _alerts(session) == []
