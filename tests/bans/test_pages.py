"""The bureau's blacklist pages: a ban recorded from the form (the number only in the
POST body, masked afterwards), the list and its filter, revoking, and the re-screen."""

from datetime import date

import pytest
import sqlalchemy as sa

from registry.alerts.models import Alert
from registry.bans.models import Ban
from tests.auth.conftest import clock, csrf_of, sign_in  # noqa: F401 (clock: a fixture)
from tests.conftest import CODES, id_number
from tests.rates.conftest import employ  # noqa: F401 (a fixture)

NUMBER = id_number(7)  # 110105199001010077-like, a valid resident ID
MASKED = NUMBER[:3] + "*" * (len(NUMBER) - 7) + NUMBER[-4:]


@pytest.fixture
def bureau(client, make_user, clock):  # noqa: F811
    make_user("bureau", username="li.bureau")
    sign_in(client, "li.bureau")
    return client


def _form(client, **fields):
    form = {
        "csrf_token": csrf_of(client, "/bans/new"),
        # as a clerk types it: full-width digits, spaces, a lower-case x would do too
        "id_number": " ".join([NUMBER[:6], NUMBER[6:14], NUMBER[14:]]).translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        ),
        "id_type": "",
        "name": "张某",
        "category": "abuse",
        "authority": "杭州市西湖区卫生健康局",
        "decision_no": "西卫禁〔2026〕3号",
        "effective_on": "2026-11-01",
        "until": "",
    }
    form.update(fields)
    return client.post("/bans/new", data=form)


def test_a_ban_recorded_from_the_form_is_listed_masked(bureau, session):
    response = _form(bureau)
    assert response.status_code == 302
    assert NUMBER not in response.location and NUMBER[-4:] not in response.location
    ban = session.scalar(sa.select(Ban))
    assert ban.category == "abuse" and ban.until is None and ban.effective_on == date(2026, 11, 1)
    listed = bureau.get(response.location).get_data(as_text=True)
    assert "已记录禁入决定" in listed and "张某" in listed and MASKED in listed
    assert NUMBER not in listed and "终身" in listed and "2026年11月1日" in listed


def test_a_form_with_errors_keeps_the_input_and_records_nothing(bureau, session):
    response = _form(bureau, id_number="11010519491231002", name="", until="2026-10-01")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="id_number-error"' in text and 'id="name-error"' in text
    assert 'value="11010519491231002"' in text  # the number in the field the user typed
    assert 'autocomplete="off"' in text
    response = _form(bureau, until="2026-10-01")
    assert response.status_code == 422
    assert "不得早于" in response.get_data(as_text=True) and "2026-11-01" in response.get_data(
        as_text=True
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(Ban)) == 0


def test_a_second_active_ban_of_the_same_number_is_refused_beside_the_number(bureau, session):
    assert _form(bureau).status_code == 302
    again = _form(bureau, id_number=NUMBER, decision_no="西卫禁〔2026〕4号")
    assert again.status_code == 409
    assert "已有一条有效的禁入记录" in again.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(Ban)) == 1


def test_revoking_needs_a_reason_and_the_list_filters_by_status(bureau, session):
    _form(bureau)
    ban = session.scalar(sa.select(Ban))
    path = f"/bans/{ban.id}/revoke"
    page = bureau.get(path).get_data(as_text=True)
    assert MASKED in page and NUMBER not in page
    refused = bureau.post(path, data={"csrf_token": csrf_of(bureau, path), "reason": "  "})
    assert refused.status_code == 422 and 'id="reason-error"' in refused.get_data(as_text=True)
    session.refresh(ban)
    assert ban.status == "active"
    done = bureau.post(path, data={"csrf_token": csrf_of(bureau, path), "reason": "复议撤销"})
    assert done.status_code == 302
    session.refresh(ban)
    assert ban.status == "revoked" and ban.revoked_reason == "复议撤销"
    active = bureau.get("/bans?status=active").get_data(as_text=True)
    assert "张某" not in active and "没有有效禁入记录" in active
    revoked = bureau.get("/bans?status=revoked").get_data(as_text=True)
    assert "张某" in revoked and "复议撤销" in revoked


def test_the_rescreen_finds_somebody_barred_in_post_and_alerts_once(
    bureau,
    session,
    make_institution,
    make_person,
    employ,  # noqa: F811
):
    place = make_institution(CODES[0], name="西湖区第一托育园")
    person = make_person(7, name="张某")
    _form(bureau)  # the ban, before the employment: no alert yet
    employ(person, place, "caregiver", start=date(2026, 11, 10))
    assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    post = {"csrf_token": csrf_of(bureau, "/rescreen"), "as_of": "2026-11-20"}
    report = bureau.post("/rescreen", data=post)
    assert report.status_code == 200
    text = report.get_data(as_text=True)
    assert "复查报告：2026年11月20日" in text and "共复查在岗任职 1 人次" in text
    assert "发现 1 人次为禁入人员" in text and "西湖区第一托育园" in text and "新提醒" in text
    assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
    again = bureau.post("/rescreen", data=post).get_data(as_text=True)
    assert "已有提醒" in again
    assert session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1


def test_the_rescreen_refuses_a_date_that_does_not_exist(bureau):
    post = {"csrf_token": csrf_of(bureau, "/rescreen"), "as_of": "2026-02-30"}
    response = bureau.post("/rescreen", data=post)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="as_of-error"' in text and "复查报告" not in text


def test_only_the_bureau_and_the_administrator_see_the_blacklist(
    client, make_user, make_institution
):
    make_user("inspector", username="sun.inspector")
    sign_in(client, "sun.inspector")
    for path in ("/bans", "/bans/new", "/rescreen"):
        assert client.get(path).status_code == 403, path
