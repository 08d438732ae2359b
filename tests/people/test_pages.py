"""The HR clerk's 人员 pages through the Flask test client: find by number or name,
correct, record, revoke and renew certificates, and the forms' refusals."""

import re
from datetime import date

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.credentials.models import Certificate
from registry.people.models import PersonChange
from tests.auth.conftest import csrf_of, sign_in
from tests.conftest import id_number

PASSWORD = "correct horse battery"


@pytest.fixture
def clerk(client, make_user):
    user, _ = make_user("hr", username="li.hr")
    sign_in(client, "li.hr", PASSWORD)
    return user


def post(client, path, **data):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, "/hr/people")})


def spaced(number: str) -> str:
    """The number as a clerk may type it: full-width digits, spaces, a lower-case x."""
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)
    return f"{wide[:6]} {wide[6:14]} {wide[14:]}".lower()


def test_found_by_number_typed_in_any_form(client, clerk, make_person):
    person = make_person(3, certificates=[("childcare_worker", date(2024, 3, 5))])
    response = post(client, "/hr/people/find", id_number=spaced(id_number(3)))
    assert response.status_code == 302
    assert response.location == f"/hr/people/{person.public_id}"
    html = client.get(response.location).get_data(as_text=True)
    assert "王芳" in html and "保育师" in html and "有效" in html
    assert id_number(3) not in html and id_number(3)[:3] + "*" in html


def test_a_number_nobody_registered_is_said_beside_the_field(client, session, clerk):
    response = post(client, "/hr/people/find", id_number=id_number(7))
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'class="field-error"' in html and "没有登记此证件号码" in html
    assert id_number(7) in html  # kept in the field the user typed, and only there
    assert html.count(id_number(7)) == 1
    # The lookup stays on record even though nobody was found.
    found = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "person.looked_up"))
    assert [e.data["found"] for e in found] == [False]


def test_a_malformed_number_is_refused_in_chinese(client, clerk):
    response = post(client, "/hr/people/find", id_number="11010519900101001")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'class="field-error"' in html
    assert re.search(r"field-error[^>]*>[^<]*[\u4e00-\u9fff]", html)


def test_found_by_exact_name(client, clerk, make_person):
    make_person(1, name="李娜")
    make_person(2, name="李娜")
    make_person(3, name="王芳")
    html = post(client, "/hr/people/find", name="李娜").get_data(as_text=True)
    assert html.count("/hr/people/") >= 2 and "王芳" not in html.split("<h2>")[1]


def test_revoke_with_a_reason(client, session, clerk, make_person):
    person = make_person(1, certificates=[("childcare_worker", date(2024, 3, 5))])
    certificate = session.scalars(sa.select(Certificate)).one()
    response = post(client, f"/hr/people/certificates/{certificate.id}/revoke", reason="证书造假")
    assert response.location == f"/hr/people/{person.public_id}?done=revoked"
    session.refresh(certificate)
    assert (certificate.status, certificate.revoked_reason) == ("revoked", "证书造假")
    html = client.get(response.location).get_data(as_text=True)
    assert "证书已撤销" in html and "已撤销" in html and "证书造假" in html


def test_revoke_without_a_reason_keeps_the_form_and_writes_nothing(
    client, session, clerk, make_person
):
    make_person(1, certificates=[("childcare_worker", date(2024, 3, 5))])
    certificate = session.scalars(sa.select(Certificate)).one()
    response = post(
        client, f"/hr/people/certificates/{certificate.id}/revoke", reason=" ", revoked_on="2025-1"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="revoke-{certificate.id}-reason-error"' in html
    assert 'value="2025-1"' in html  # what was typed is kept
    session.refresh(certificate)
    assert certificate.status != "revoked"


def test_add_and_renew_a_certificate(client, session, clerk, make_person):
    person = make_person(1)
    response = post(
        client,
        f"/hr/people/{person.public_id}/certificates",
        kind="childcare_worker",
        level="四级",
        number="HZ2024-001",
        issuer="杭州市人力资源和社会保障局",
        issued_on="2024-03-05",
        expires_on="2026-03-04",
    )
    assert response.location == f"/hr/people/{person.public_id}?done=added"
    old = session.scalars(sa.select(Certificate)).one()
    assert (old.number, old.level) == ("HZ2024-001", "4")
    response = post(
        client,
        f"/hr/people/certificates/{old.id}/renew",
        number="HZ2026-001",
        issued_on="2026-03-01",
    )
    assert response.location == f"/hr/people/{person.public_id}?done=renewed"
    renewal = session.scalars(sa.select(Certificate).where(Certificate.replaces_id == old.id)).one()
    assert (renewal.number, renewal.issuer) == ("HZ2026-001", "杭州市人力资源和社会保障局")


def test_a_certificate_number_already_recorded_is_refused(client, session, clerk, make_person):
    person = make_person(1)
    form = {
        "kind": "childcare_worker",
        "number": "HZ2024-001",
        "issuer": "杭州市人力资源和社会保障局",
        "issued_on": "2024-03-05",
    }
    assert post(client, f"/hr/people/{person.public_id}/certificates", **form).status_code == 302
    response = post(client, f"/hr/people/{person.public_id}/certificates", **form)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "未保存" in html
    assert 'value="HZ2024-001"' in html
    assert session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 1


def test_an_issue_date_that_is_no_date_is_shown_beside_the_field(
    client, session, clerk, make_person
):
    person = make_person(1)
    response = post(
        client,
        f"/hr/people/{person.public_id}/certificates",
        kind="childcare_worker",
        number="X1",
        issuer="杭州市人力资源和社会保障局",
        issued_on="2024-02-30",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="add-issued_on-error"' in html
    assert session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0


def test_correct_a_record_with_a_reason_shows_the_history(client, session, clerk, make_person):
    person = make_person(1, name="王方", education="senior_high")
    response = post(
        client,
        f"/hr/people/{person.public_id}/correct",
        name="王芳",
        education="junior_college",
        reason="按身份证更正姓名",
    )
    assert response.location == f"/hr/people/{person.public_id}?done=corrected"
    html = client.get(response.location).get_data(as_text=True)
    assert "<h1>王芳</h1>" in html and "按身份证更正姓名" in html and "姓名：王方" in html
    assert "学历：高中" in html
    assert session.scalar(sa.select(sa.func.count()).select_from(PersonChange)) == 1


def test_a_correction_without_a_reason_changes_nothing(client, session, clerk, make_person):
    person = make_person(1, name="王方")
    response = post(client, f"/hr/people/{person.public_id}/correct", name="王芳")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="correct-reason-error"' in html
    assert 'value="王芳"' in html
    assert session.scalar(sa.select(sa.func.count()).select_from(PersonChange)) == 0


def test_a_correction_that_changes_nothing_is_said(client, session, clerk, make_person):
    person = make_person(1, name="王芳")
    response = post(client, f"/hr/people/{person.public_id}/correct", name="王芳", reason="核对")
    assert response.status_code == 422 and "没有需要更正的内容" in response.get_data(as_text=True)


def test_directors_cannot_reach_people(client, make_user, make_institution):
    make_user("director", institution=make_institution(), username="zhang.director")
    sign_in(client, "zhang.director", PASSWORD)
    assert client.get("/hr/people").status_code == 403
