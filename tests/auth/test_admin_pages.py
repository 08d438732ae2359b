"""The pages of users, tokens and the audit log, through the Flask test client: the many
cases of forms and permissions (the browser journeys are in tests/pages)."""

import re

import pytest
import sqlalchemy as sa

from registry.audit import AuditEvent
from registry.auth import pages
from registry.auth.models import ApiToken, User
from tests.auth.conftest import PASSWORD, csrf_of, events, sign_in
from tests.conftest import CODES


def _signed_in(app, make_user, role, **options):
    """A browser of its own (a test client with its cookies), signed in as a new user."""
    user, _headers = make_user(role, **options)
    browser = app.test_client()
    assert sign_in(browser, user.username).status_code == 302
    return browser, user


def _post(browser, path, form_page, **data):
    return browser.post(path, data={**data, "csrf_token": csrf_of(browser, form_page)})


def _field_errors(response) -> dict[str, str]:
    text = response.get_data(as_text=True)
    return dict(re.findall(r'class="field-error" id="([a-z_-]+)-error">([^<]*)<', text))


def _user(session, username):
    session.expire_all()  # as the requests left it
    return session.scalar(sa.select(User).where(User.username == username))


def test_a_bureau_officer_creates_a_director_who_must_choose_a_password(
    app, session, make_user, make_institution
):
    make_institution()
    browser, bureau = _signed_in(app, make_user, "bureau")
    response = _post(
        browser,
        "/users/new",
        "/users/new",
        username="li.director",
        password="temporary password 1",
        role="director",
        institution=CODES[0].lower(),  # typed in lower case: normalised
    )
    director = _user(session, "li.director")
    assert response.status_code == 302 and response.location == f"/users/{director.id}?created=1"
    assert director.must_change_password and director.institution.code == CODES[0]
    event = events(session, "user.created")[-1]
    assert event.actor == bureau.username and event.subject == "user:li.director"
    shown = browser.get(response.location).get_data(as_text=True)
    assert "用户已创建" in shown and "下次登录须修改密码" in shown

    # The director signs in and is sent to choose a password before anything else.
    director_browser = app.test_client()
    first = sign_in(director_browser, "li.director", "temporary password 1")
    assert first.location == "/password"
    assert director_browser.get("/tokens").location == "/password"


def test_a_bureau_officer_creates_only_director_and_hr_accounts(app, session, make_user):
    browser, _bureau = _signed_in(app, make_user, "bureau")
    form = browser.get("/users/new").get_data(as_text=True)
    assert 'value="director"' in form and 'value="hr"' in form and 'value="bureau"' not in form
    response = _post(
        browser, "/users/new", "/users/new", username="zhao", password=PASSWORD, role="bureau"
    )
    assert response.status_code == 422
    assert "卫健局用户只能管理机构负责人和人社局账号" in _field_errors(response)["role"]
    assert _user(session, "zhao") is None


def test_a_form_with_errors_comes_back_with_the_input_and_nothing_written(app, session, make_user):
    browser, _admin = _signed_in(app, make_user, "admin")
    make_user("hr", username="taken.name")
    before = session.scalar(sa.select(sa.func.count()).select_from(User))
    taken = _post(
        browser,
        "/users/new",
        "/users/new",
        username="taken.name",
        password="a secret of mine 42",
        role="hr",
    )
    assert taken.status_code == 422
    assert "用户名已被使用" in _field_errors(taken)["username"]
    text = taken.get_data(as_text=True)
    assert 'value="taken.name"' in text and "a secret of mine 42" not in text  # never echoed
    no_institution = _post(
        browser,
        "/users/new",
        "/users/new",
        username="new.director",
        password="a secret of mine 42",
        role="director",
    )
    assert no_institution.status_code == 422
    assert "institution" in _field_errors(no_institution)
    unknown = _post(
        browser,
        "/users/new",
        "/users/new",
        username="new.director",
        password="a secret of mine 42",
        role="director",
        institution=CODES[1],
    )
    assert unknown.status_code == 422 and "institution" in _field_errors(unknown)
    weak = _post(browser, "/users/new", "/users/new", username="weak", password="short", role="hr")
    assert "至少 10 个字符" in _field_errors(weak)["password"]
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == before
    subjects = {e.subject for e in events(session, "user.created")}
    assert not subjects & {"user:new.director", "user:weak"}


def test_users_are_listed_by_role_a_page_at_a_time(app, make_user, monkeypatch):
    browser, _bureau = _signed_in(app, make_user, "bureau")
    for name in ("hr.a", "hr.b", "hr.c"):
        make_user("hr", username=name)
    make_user("inspector", username="insp.a")
    monkeypatch.setattr(pages, "USERS_PAGE_SIZE", 2)
    first = browser.get("/users?role=hr").get_data(as_text=True)
    assert "hr.a" in first and "hr.b" in first and "hr.c" not in first
    assert "insp.a" not in first and "第 1 / 2 页，共 3 条" in first
    assert 'href="/users?page=2&amp;role=hr"' in first
    second = browser.get("/users?role=hr&page=2").get_data(as_text=True)
    assert "hr.c" in second and "hr.a" not in second
    # A role that does not exist, or a page past the end, is no error.
    assert browser.get("/users?role=nobody&page=99").status_code == 200


def test_a_disabled_director_is_signed_out_at_once(app, session, make_user, make_institution):
    institution = make_institution()
    browser, _bureau = _signed_in(app, make_user, "bureau")
    director_browser, director = _signed_in(app, make_user, "director", institution=institution)
    assert director_browser.get("/tokens").status_code == 200
    response = _post(browser, f"/users/{director.id}/disable", f"/users/{director.id}")
    assert response.status_code == 302 and response.location.endswith("done=disabled")
    assert not _user(session, director.username).active
    assert director_browser.get("/tokens").location == "/login?next=/tokens"
    assert events(session, "user.disabled")[-1].data["sessions_ended"] == 1
    enabled = _post(browser, f"/users/{director.id}/enable", f"/users/{director.id}")
    assert enabled.status_code == 302 and _user(session, director.username).active


def test_nobody_disables_the_own_account_nor_one_beyond_the_role(app, session, make_user):
    admin_browser, admin = _signed_in(app, make_user, "admin")
    own = _post(admin_browser, f"/users/{admin.id}/disable", "/users")
    assert own.status_code == 403 and "不能停用自己的账号" in own.get_data(as_text=True)
    browser, bureau = _signed_in(app, make_user, "bureau")
    assert _post(browser, f"/users/{bureau.id}/disable", "/users").status_code == 403
    assert browser.get(f"/users/{admin.id}").status_code == 403
    other = _post(browser, f"/users/{admin.id}/disable", "/users")
    assert other.status_code == 403 and "<html" in other.get_data(as_text=True)
    assert _user(session, bureau.username).active and _user(session, admin.username).active
    assert browser.get("/users/999999").status_code == 404
    # Only an administrator changes roles and resets passwords.
    hr, _headers = make_user("hr")
    page = browser.get(f"/users/{hr.id}").get_data(as_text=True)
    assert "停用账号" in page and "重置密码" not in page
    refused = _post(browser, f"/users/{hr.id}/role", "/users", role="inspector")
    assert refused.status_code == 403 and _user(session, hr.username).role == "hr"


def test_directors_hr_and_inspectors_do_not_manage_users(app, make_user):
    browser, _inspector = _signed_in(app, make_user, "inspector")
    for path in ("/users", "/users/new", "/audit"):
        response = browser.get(path)
        assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)


def test_an_administrator_changes_a_role_and_resets_a_password(
    app, session, make_user, make_institution
):
    make_institution()
    browser, _admin = _signed_in(app, make_user, "admin")
    hr_browser, hr = _signed_in(app, make_user, "hr")
    bad = _post(browser, f"/users/{hr.id}/role", f"/users/{hr.id}", role="director")
    assert bad.status_code == 422 and "institution" in _field_errors(bad)
    assert _user(session, hr.username).role == "hr"
    moved = _post(
        browser, f"/users/{hr.id}/role", f"/users/{hr.id}", role="director", institution=CODES[0]
    )
    assert moved.status_code == 302
    assert _user(session, hr.username).role == "director"
    assert hr_browser.get("/tokens").location == "/login?next=/tokens"  # its session ended
    short = _post(browser, f"/users/{hr.id}/reset-password", f"/users/{hr.id}", password="x")
    assert short.status_code == 422 and "password" in _field_errors(short)
    reset = _post(
        browser, f"/users/{hr.id}/reset-password", f"/users/{hr.id}", password="temporary again 7"
    )
    assert reset.status_code == 302 and _user(session, hr.username).must_change_password
    assert sign_in(app.test_client(), hr.username, "temporary again 7").location == "/password"


def test_a_token_is_shown_once_and_revoked_by_its_owner(app, session, make_user):
    browser, hr = _signed_in(app, make_user, "hr")  # make_user gave it a token already
    made = _post(browser, "/tokens", "/tokens", label="Excel 导入脚本", expires_in_days="30")
    assert made.status_code == 200
    text = made.get_data(as_text=True)
    token = re.search(r'id="issued" readonly value="([^"]+)"', text)[1]
    client = app.test_client()
    answer = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and len(answer.get_json()) == 2
    again = browser.get("/tokens").get_data(as_text=True)
    assert token not in again and "Excel 导入脚本" in again
    row = session.scalar(sa.select(ApiToken).where(ApiToken.label == "Excel 导入脚本"))
    revoked = _post(browser, f"/tokens/{row.id}/revoke", "/tokens")
    assert revoked.status_code == 302
    assert (
        client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert events(session, "token.revoked")[-1].data == {"token_id": row.id}

    bad = _post(browser, "/tokens", "/tokens", label="x", expires_in_days="forever")
    assert bad.status_code == 422 and "days" in _field_errors(bad)


@pytest.mark.parametrize("role", ["hr", "director", "inspector"])
def test_someone_elses_token_is_not_there(app, session, make_user, make_institution, role):
    institution = make_institution() if role == "director" else None
    browser, _user_ = _signed_in(app, make_user, role, institution=institution)
    other, _headers = make_user("bureau")
    theirs = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == other.id))
    page = browser.get("/tokens").get_data(as_text=True)
    assert other.username not in page
    response = _post(browser, f"/tokens/{theirs.id}/revoke", "/tokens")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
    session.refresh(theirs)
    assert theirs.revoked_at is None


def test_the_administrator_sees_and_revokes_every_token(app, session, make_user):
    browser, _admin = _signed_in(app, make_user, "admin")
    other, _headers = make_user("hr", username="hr.someone")
    theirs = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == other.id))
    assert "hr.someone" in browser.get("/tokens").get_data(as_text=True)
    assert _post(browser, f"/tokens/{theirs.id}/revoke", "/tokens").status_code == 302
    session.refresh(theirs)
    assert theirs.revoked_at is not None


def test_a_form_without_its_csrf_token_changes_nothing(app, session, make_user):
    browser, _admin = _signed_in(app, make_user, "admin")
    hr, _headers = make_user("hr")
    response = browser.post(f"/users/{hr.id}/disable", data={})
    assert response.status_code == 400
    assert _user(session, hr.username).active


def test_the_audit_page_verifies_the_chain_and_names_the_first_broken_event(
    app, session, make_user
):
    browser, _bureau = _signed_in(app, make_user, "bureau")
    make_user("hr", username="hr.audited")
    page = browser.get("/audit").get_data(as_text=True)
    assert "审计链完整" in page
    newest = session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', page)]
    assert ids == sorted(ids, reverse=True) and ids[0] == newest
    assert "user:hr.audited" in page

    # Somebody edits an event in the database behind the registry's back.
    middle = session.scalar(sa.select(sa.func.min(AuditEvent.id))) + 1
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == middle).values(subject="user:someone.else")
    )
    broken = browser.get("/audit").get_data(as_text=True)
    assert f"审计链在第 {middle} 条记录处断开" in broken and "审计链完整" not in broken


def test_a_list_page_takes_as_many_statements_for_many_rows_as_for_few(
    app, make_user, make_institution, count_statements
):
    institution = make_institution()
    browser, _admin = _signed_in(app, make_user, "admin")
    browser.get("/users")  # the session's last use noted: later pages do not write it

    def statements(path):
        with count_statements() as sent:
            assert browser.get(path).status_code == 200
        return len(sent)

    few = {path: statements(path) for path in ("/users", "/tokens", "/audit")}
    for _ in range(12):
        make_user("director", institution)  # a user with a token and an institution
    assert {path: statements(path) for path in few} == few
