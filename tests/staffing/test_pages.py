"""The director's pages through the Flask client: the forms' errors, what is written and
what is not, masking, and who may see what. The browser journeys are in tests/pages."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry import clock
from registry.alerts.models import Alert
from registry.auth.models import SystemActor
from registry.bans.models import BanCheck
from registry.credentials.models import Certificate
from registry.credentials.services import revoke as revoke_certificate
from registry.staffing.models import Employment
from tests.auth.conftest import csrf_of, sign_in
from tests.conftest import CODES, id_number
from tests.eligibility.test_views import ban

TODAY = clock.today()
COOK = [("health_certificate", TODAY - timedelta(days=30))]


@pytest.fixture
def institution(make_institution):
    return make_institution(classes=[{"type": "toddler", "children": 10}])


@pytest.fixture
def director(client, make_user, institution):
    user, _ = make_user("director", institution, username="zhao.director")
    assert sign_in(client, "zhao.director").status_code == 302
    return user


def _post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_of(client, "/director/check"), **data})


def _text(response) -> str:
    return response.get_data(as_text=True)


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_director_lands_on_the_candidate_check(client, make_user, institution):
    make_user("director", institution, username="qian.director")
    response = sign_in(client, "qian.director")
    assert response.location == "/director/check"
    page = client.get("/director/check")
    assert page.status_code == 200 and 'autocomplete="off"' in _text(page)
    assert "候选人核查" in _text(page)


def test_other_roles_may_not_see_the_director_pages(client, make_user):
    make_user("hr", username="li.hr")
    sign_in(client, "li.hr")
    for path in ("/director/check", "/director/roster", "/director/alerts"):
        response = client.get(path)
        assert response.status_code == 403 and "无权访问" in _text(response)


def test_a_clear_candidate_is_answered_rule_by_rule_and_masked(
    client, session, director, make_person
):
    make_person(1, certificates=COOK)
    typed = " ".join(id_number(1)[i : i + 6] for i in range(0, 18, 6)).lower()
    response = _post(client, "/director/check", id_number=typed, role="cook")
    text = _text(response)
    assert response.status_code == 200, text
    assert "无禁入记录" in text and "符合「炊事人员」岗位的必需条件" in text
    number = id_number(1)
    assert number not in text and f"{number[:3]}***********{number[-4:]}" in text
    check = session.scalars(sa.select(BanCheck)).one()
    assert check.result == "clear" and check.institution_id == director.institution_id
    assert f"/director/checks/{check.id}/receipt" in text


def test_a_barred_candidate_shows_whom_to_contact(app, client, session, director):
    ban(app, session, id_number(4))
    response = _post(client, "/director/check", id_number=id_number(4), role="caregiver")
    text = _text(response)
    assert "禁入" in text and 'id="ban-contact"' in text
    assert "不符合「保育人员」岗位的必需条件" in text


def test_a_bad_number_is_shown_beside_the_field_and_nothing_is_stored(client, session, director):
    response = _post(client, "/director/check", id_number="11010519900101001", role="cook")
    text = _text(response)
    assert response.status_code == 422
    assert 'class="field-error"' in text and "17" in text
    assert 'value="11010519900101001"' in text  # the input kept in its own field
    assert _count(session, BanCheck) == 0


def test_the_receipt_is_signed_again_from_the_stored_check(client, session, director, app):
    from registry.bans import receipts
    from registry.crypto import current_keyring

    _post(client, "/director/check", id_number=id_number(2), role="cook")
    check = session.scalars(sa.select(BanCheck)).one()
    page = client.get(f"/director/checks/{check.id}/receipt")
    text = _text(page)
    assert page.status_code == 200 and "<svg" in text
    token = re.search(r'id="receipt-token">([^<]+)<', text)[1]
    with app.app_context():
        receipt = receipts.verify(token, current_keyring().public_keys())
    assert receipt.check_id == check.id and receipt.institution == CODES[0]
    assert receipt.id_number == check.id_number_masked and receipt.result == "clear"
    assert id_number(2) not in text
    assert "style=" not in text  # the QR code too obeys the policy: no inline style


def test_another_institutions_receipt_is_not_found(
    client, session, director, make_institution, make_user
):
    other = make_institution(code=CODES[1], name="另一托育园")
    make_user("director", other, username="sun.director")
    _post(client, "/director/check", id_number=id_number(2), role="cook")
    check = session.scalars(sa.select(BanCheck)).one()
    client.post("/logout", data={"csrf_token": csrf_of(client, "/director/check")})
    sign_in(client, "sun.director")
    assert client.get(f"/director/checks/{check.id}/receipt").status_code == 404


def test_a_hire_needs_the_declaration_and_writes_nothing_without_it(
    client, session, director, make_person
):
    make_person(1, certificates=COOK)
    response = _post(
        client, "/director/hire", id_number=id_number(1), role="cook", start=TODAY.isoformat()
    )
    text = _text(response)
    assert response.status_code == 422 and "请阅读并勾选声明" in text
    assert f'value="{id_number(1)}"' in text
    assert _count(session, Employment) == 0 and _count(session, BanCheck) == 0


def test_a_bad_start_date_is_named(client, session, director, make_person):
    make_person(1, certificates=COOK)
    response = _post(
        client,
        "/director/hire",
        id_number=id_number(1),
        role="cook",
        start="2026-02-30",
        declaration="yes",
    )
    assert response.status_code == 422 and "入职日期有误" in _text(response)
    assert _count(session, Employment) == 0


def test_an_eligible_hire_goes_on_the_roster_and_ends(client, session, director, make_person):
    make_person(1, name="钱多多", certificates=COOK)
    hired = _post(
        client,
        "/director/hire",
        id_number=id_number(1),
        role="cook",
        start=TODAY.isoformat(),
        declaration="yes",
    )
    assert hired.status_code == 200 and "钱多多（110**" in _text(hired)
    employment = session.scalars(sa.select(Employment)).one()
    assert employment.declaration_at is not None
    roster = client.get("/director/roster")
    assert "钱多多" in _text(roster)
    early = _post(
        client,
        f"/director/roster/{employment.id}/end",
        end=(employment.start - timedelta(days=1)).isoformat(),
    )
    assert early.status_code == 422 and "离职日期不能早于入职日期" in _text(early)
    assert session.get(Employment, employment.id).end is None
    ended = _post(client, f"/director/roster/{employment.id}/end", end=TODAY.isoformat())
    assert ended.status_code == 302
    session.refresh(employment)
    assert employment.end == TODAY
    # The last day in post is today: on the roster until tomorrow.
    assert "已办理离职" in _text(client.get(ended.location))


def test_a_refused_hire_shows_the_reasons_and_stays_on_record(
    client, session, director, make_person
):
    make_person(1, certificates=COOK)
    response = _post(
        client,
        "/director/hire",
        id_number=id_number(1),
        role="caregiver",
        start=TODAY.isoformat(),
        declaration="yes",
    )
    text = _text(response)
    assert "不予录用" in text and 'id="reasons"' in text
    assert _count(session, Employment) == 0 and _count(session, BanCheck) == 1


def test_compliance_and_expiring_pages(client, session, director, make_person):
    # A health certificate lasts 365 days: this one expires in 15.
    make_person(1, name="李四", certificates=[("health_certificate", TODAY - timedelta(days=350))])
    _post(
        client,
        "/director/hire",
        id_number=id_number(1),
        role="cook",
        start=TODAY.isoformat(),
        declaration="yes",
    )
    compliance = _text(client.get("/director/compliance"))
    assert "托小班" in compliance and "持证率" in compliance and 'id="checks"' in compliance
    expiring = _text(client.get("/director/expiring"))
    assert 'id="expiring"' in expiring and 'id="expired"' not in expiring
    assert "李四" in expiring and "健康合格证" in expiring and "炊事人员" in expiring


def test_an_alert_is_acknowledged_with_one_click(client, session, director, make_person, app):
    person = make_person(1, name="孙小红", certificates=COOK)
    _post(
        client,
        "/director/hire",
        id_number=id_number(1),
        role="cook",
        start=TODAY.isoformat(),
        declaration="yes",
    )
    certificate = session.scalars(
        sa.select(Certificate).where(Certificate.person_id == person.id)
    ).one()
    with app.app_context():
        revoke_certificate(session, SystemActor("test"), certificate, "伪造", TODAY)
    alert = session.scalars(sa.select(Alert)).one()
    page = _text(client.get("/director/alerts"))
    assert "孙小红" in page and 'id="open-alerts"' in page
    done = _post(client, f"/director/alerts/{alert.id}/acknowledge")
    assert done.status_code == 302
    session.refresh(alert)
    assert alert.acknowledged_at is not None
    page = _text(client.get("/director/alerts"))
    assert 'id="no-open"' in page and 'id="seen-alerts"' in page


def test_hiring_the_same_person_twice_is_refused_beside_the_form(
    client, session, director, make_person
):
    make_person(1, certificates=COOK)
    form = dict(id_number=id_number(1), role="cook", start=TODAY.isoformat(), declaration="yes")
    assert _post(client, "/director/hire", **form).status_code == 200
    again = _post(client, "/director/hire", **form)
    assert again.status_code == 409 and "未重复录用" in _text(again)
    assert _count(session, Employment) == 1


def test_a_dispatching_company_is_only_for_a_security_guard(client, session, director, make_person):
    make_person(1, certificates=COOK)
    form = dict(id_number=id_number(1), role="cook", start=TODAY.isoformat(), declaration="yes")
    wrong = _post(client, "/director/hire", dispatch_company="平安保安公司", **form)
    assert wrong.status_code == 422 and 'class="field-error"' in _text(wrong)
    assert _count(session, Employment) == 0
