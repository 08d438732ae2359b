"""The bureau's alerts page: every institution's, those not yet acknowledged first,
filters, and acknowledging with one click."""

import re

import sqlalchemy as sa

from registry.alerts.models import Alert
from tests.alerts.test_views import BAN
from tests.auth.conftest import csrf_of, sign_in
from tests.conftest import CODES, id_number


def _rows(text: str) -> list[str]:
    body = text[text.index("<tbody>") : text.index("</tbody>")]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_unacknowledged_alerts_come_first_and_one_click_acknowledges(
    client, session, make_user, make_institution, make_person, employ
):
    xihu = make_institution(CODES[0], name="西湖区第一托育园")
    yuyao = make_institution(CODES[1], name="余姚市阳光托育园", district="余姚市")
    employ(make_person(1, name="王芳"), xihu, "caregiver")
    employ(make_person(2, name="李静"), yuyao, "caregiver")
    _, token = make_user("bureau", username="li.bureau")
    for i in (1, 2):
        ban = {**BAN, "id_number": id_number(i), "decision_no": f"禁〔2026〕{i}号"}
        assert client.post("/api/v1/bans", json=ban, headers=token).status_code == 201
    first, second = session.scalars(sa.select(Alert).order_by(Alert.id)).all()
    sign_in(client, "li.bureau")

    rows = _rows(client.get("/bureau/alerts").get_data(as_text=True))
    assert len(rows) == 2 and all("确认" in row for row in rows)
    done = client.post(
        f"/bureau/alerts/{second.id}/acknowledge",
        data={"csrf_token": csrf_of(client, "/bureau/alerts"), "back": "/bureau/alerts?kind=ban"},
    )
    assert done.status_code == 302
    assert done.location == f"/bureau/alerts?kind=ban&acknowledged={second.id}"
    session.refresh(second)
    assert second.acknowledged_at is not None
    text = client.get(done.location).get_data(as_text=True)
    assert f"已确认提醒 {second.id}" in text
    rows = _rows(text)
    # 王芳's, not yet acknowledged, before 李静's, acknowledged, though raised first.
    assert "王芳" in rows[0] and "确认提醒" in rows[0]
    assert "李静" in rows[1] and "已确认" in rows[1] and "li.bureau" in rows[1]
    again = client.post(
        f"/bureau/alerts/{second.id}/acknowledge",
        data={"csrf_token": csrf_of(client, "/bureau/alerts")},
    )
    assert "problem=already" in again.location

    only_yuyao = client.get(f"/bureau/alerts?institution={CODES[1]}").get_data(as_text=True)
    assert [("李静" in row) for row in _rows(only_yuyao)] == [True]
    expiring = client.get("/bureau/alerts?kind=certificate_expiring").get_data(as_text=True)
    assert "没有提醒" in expiring
    unknown = client.get(f"/bureau/alerts?institution={CODES[3]}")
    assert unknown.status_code == 422
    assert 'id="institution-error"' in unknown.get_data(as_text=True)


def test_a_director_uses_the_own_alerts_page_not_the_bureaus(client, make_user, make_institution):
    place = make_institution(CODES[0])
    make_user("director", place, username="zhao.director")
    sign_in(client, "zhao.director")
    assert client.get("/bureau/alerts").status_code == 403
    refused = client.post(
        "/bureau/alerts/1/acknowledge", data={"csrf_token": csrf_of(client, "/password")}
    )
    assert refused.status_code == 403
