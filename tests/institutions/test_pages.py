"""The bureau's institution pages: the list with its filters, add and edit, and what a
form with an error does (shown again, input kept, nothing written)."""

import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.institutions.models import Institution
from tests.auth.conftest import count_statements, csrf_of, sign_in  # noqa: F401
from tests.conftest import CODES


def _bureau(client, make_user):
    make_user("bureau", username="li.bureau")
    assert sign_in(client, "li.bureau").location == "/institutions"


def _add(client, **fields):
    form = {
        "csrf_token": csrf_of(client, "/institutions/new"),
        "code": CODES[2],
        "name": "拱墅区小太阳托育园",
        "district": "杭州市拱墅区",
        "class_rows": "3",
        "classes-0-type": "toddler",
        "classes-0-children": "12",
        "meals_on_site": "yes",
    }
    form.update(fields)
    return client.post("/institutions/new", data=form)


def test_the_bureau_lands_on_institutions_and_filters_by_district_and_name(
    client, make_user, make_institution
):
    make_institution(CODES[0], name="西湖区第一托育园", district="西湖区")
    make_institution(CODES[1], name="拱墅区阳光托育园", district="杭州市拱墅区")
    _bureau(client, make_user)
    everything = client.get("/institutions").get_data(as_text=True)
    assert "西湖区第一托育园" in everything and "拱墅区阳光托育园" in everything
    gongshu = client.get("/institutions?district=拱墅区").get_data(as_text=True)
    assert "拱墅区阳光托育园" in gongshu and "西湖区第一托育园" not in gongshu
    by_name = client.get("/institutions?q=第一").get_data(as_text=True)
    assert "西湖区第一托育园" in by_name and "拱墅区阳光托育园" not in by_name
    by_code = client.get(f"/institutions?q={CODES[1][:8].lower()}").get_data(as_text=True)
    assert "拱墅区阳光托育园" in by_code and "西湖区第一托育园" not in by_code
    nobody = client.get("/institutions?q=100%").get_data(as_text=True)
    assert "没有符合条件的机构" in nobody


def test_an_unknown_district_is_said_beside_the_field(client, make_user):
    _bureau(client, make_user)
    page = client.get("/institutions?district=火星区")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'class="field-error" id="district-error"' in text and "火星区" in text


def test_adding_an_institution_records_it_and_its_classes(client, session, make_user):
    _bureau(client, make_user)
    response = _add(client)
    assert response.status_code == 302 and response.location.startswith("/institutions?added=")
    added = session.scalar(sa.select(Institution).where(Institution.code == CODES[2]))
    assert added.name == "拱墅区小太阳托育园" and added.meals_on_site is True
    assert [(c.type, c.children) for c in added.classes] == [("toddler", 12)]
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "institution.created"))
    assert event.actor == "li.bureau"
    listed = client.get(response.location).get_data(as_text=True)
    assert "已登记机构" in listed and "托小班（12）" in listed


def test_a_form_with_errors_is_shown_again_with_the_input_and_nothing_written(
    client, session, make_user
):
    _bureau(client, make_user)
    response = _add(client, code="91350100M000100Y44", name="", **{"classes-0-children": "十二"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="code-error"' in text and 'id="name-error"' in text
    assert 'id="classes-0-children-error"' in text
    assert 'value="91350100M000100Y44"' in text and 'value="十二"' in text
    assert 'value="杭州市拱墅区"' in text
    assert "不能为空" in text and "不是有效的整数" in text and "校验码" in text
    assert session.scalar(sa.select(sa.func.count()).select_from(Institution)) == 0


def test_a_code_already_registered_is_refused_beside_the_code(
    client, session, make_user, make_institution
):
    make_institution(CODES[2])
    _bureau(client, make_user)
    response = _add(client)
    assert response.status_code == 409
    assert "该统一社会信用代码的机构已登记" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(Institution)) == 1


def test_editing_changes_the_name_district_and_classes(
    client, session, make_user, make_institution
):
    institution = make_institution(
        CODES[0], classes=[{"type": "infant", "children": 5}], meals_on_site=True
    )
    _bureau(client, make_user)
    form = client.get(f"/institutions/{CODES[0]}/edit").get_data(as_text=True)
    assert 'value="西湖区第一托育园"' in form and '<option value="infant" selected>' in form
    response = client.post(
        f"/institutions/{CODES[0]}/edit",
        data={
            "csrf_token": csrf_of(client, f"/institutions/{CODES[0]}/edit"),
            "name": "西湖区第一托育园（新园区）",
            "district": "西湖区",
            "class_rows": "4",
            "classes-0-type": "infant",
            "classes-0-children": "6",
            "classes-1-type": "preschool",
            "classes-1-children": "20",
        },
    )
    assert response.status_code == 302
    session.refresh(institution)
    assert institution.name == "西湖区第一托育园（新园区）"
    assert institution.meals_on_site is False
    assert [(c.type, c.children) for c in institution.classes] == [
        ("infant", 6),
        ("preschool", 20),
    ]


def test_an_edit_with_a_bad_class_changes_nothing(client, session, make_user, make_institution):
    institution = make_institution(CODES[0])
    _bureau(client, make_user)
    response = client.post(
        f"/institutions/{CODES[0]}/edit",
        data={
            "csrf_token": csrf_of(client, f"/institutions/{CODES[0]}/edit"),
            "name": "改了的名字",
            "district": "西湖区",
            "class_rows": "1",
            "classes-0-type": "",
            "classes-0-children": "-3",
        },
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="classes-0-type-error"' in text and 'value="改了的名字"' in text
    session.refresh(institution)
    assert institution.name == "西湖区第一托育园"


def test_a_director_may_not_open_the_bureaus_pages(client, make_user, make_institution):
    place = make_institution(CODES[0])
    make_user("director", place, username="zhao.director")
    sign_in(client, "zhao.director")
    for path in ("/institutions", "/institutions/new", f"/institutions/{CODES[0]}/edit"):
        page = client.get(path)
        assert page.status_code == 403 and "无权访问" in page.get_data(as_text=True), path


def test_an_unknown_institution_is_a_page_not_found(client, make_user):
    _bureau(client, make_user)
    page = client.get(f"/institutions/{CODES[3]}/edit")
    assert page.status_code == 404 and "页面不存在" in page.get_data(as_text=True)


def test_a_page_of_the_list_takes_as_many_statements_for_20_institutions_as_for_2(
    client,
    make_user,
    make_institution,
    count_statements,  # noqa: F811
):
    _bureau(client, make_user)
    make_institution(CODES[0], classes=[{"type": "infant", "children": 5}])
    make_institution(CODES[1], classes=[{"type": "toddler", "children": 9}])
    with count_statements() as few:
        assert client.get("/institutions").status_code == 200
    for n in range(18):
        make_institution(_code(n), name=f"第{n}托育园", classes=[{"type": "mixed", "children": n}])
    with count_statements() as many:
        text = client.get("/institutions").get_data(as_text=True)
    assert "第17托育园" in text and "混龄班（17）" in text
    assert len(many) == len(few)


def _code(n: int) -> str:
    """A valid 统一社会信用代码, a different one for each ``n``."""
    from registry.identity import InvalidIdentifier, parse_institution_code

    for check in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        candidate = f"9133010{n:010d}{check}"
        try:
            return parse_institution_code(candidate)
        except InvalidIdentifier:
            continue
    raise AssertionError(n)
