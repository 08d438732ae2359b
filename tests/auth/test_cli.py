"""`registry users …` and `registry tokens …` as the operator on the server runs them."""

import sqlalchemy as sa

from registry.auth import services
from registry.auth.models import ApiToken, User, WebSession
from tests.auth.conftest import PASSWORD, events, sign_in


def test_users_list_disable_enable(run, client, session, make_user, make_institution):
    make_institution()
    hr, headers = make_user("hr", username="li.hr")
    make_user("admin", username="root.admin")
    sign_in(client, "li.hr")

    listed = run("users", "list")
    assert listed.exit_code == 0
    assert "li.hr" in listed.output and "root.admin" in listed.output
    assert "li.hr" in run("users", "list", "--role", "hr").output
    assert "root.admin" not in run("users", "list", "--role", "hr").output

    disabled = run("users", "disable", "li.hr")
    assert disabled.exit_code == 0 and "已停用" in disabled.output
    assert client.get("/").location == "/login?next=/"
    assert client.get("/api/v1/tokens", headers=headers).status_code == 401
    assert session.scalar(sa.select(WebSession.end_reason)) == "user_disabled"
    assert "disabled" in run("users", "list", "--role", "hr").output

    assert run("users", "enable", "li.hr").exit_code == 0
    session.refresh(hr)
    assert hr.active
    assert run("users", "disable", "nobody").exit_code == 1


def test_reset_password_reads_stdin_prints_nothing_secret_and_forces_a_change(
    run, client, session, make_user
):
    user, _ = make_user("hr", username="li.hr")
    weak = run("users", "reset-password", "li.hr", input="1234567890\n")
    assert weak.exit_code == 1 and "常见密码" in weak.output
    result = run("users", "reset-password", "li.hr", input="临时密码 temporary 1\n")
    assert result.exit_code == 0 and "临时密码" not in result.output
    session.refresh(user)
    assert user.must_change_password
    assert sign_in(client, "li.hr", "临时密码 temporary 1").location == "/password"
    assert len(events(session, "user.password_reset")) == 1


def test_set_role(run, session, make_user, make_institution):
    institution = make_institution()
    user, _ = make_user("hr", username="li.hr")
    refused = run("users", "set-role", "li.hr", "--role", "director")
    assert refused.exit_code == 1 and "institution" in refused.output
    moved = run(
        "users", "set-role", "li.hr", "--role", "director", "--institution", institution.code
    )
    assert moved.exit_code == 0
    session.refresh(user)
    assert user.role == "director" and user.institution_id == institution.id
    assert run("users", "set-role", "li.hr", "--role", "king").exit_code == 2


def test_create_with_exists_ok_runs_again_unchanged(run, session):
    first = run(
        "users", "create", "--username", "admin", "--role", "admin", "--exists-ok", input=PASSWORD
    )
    assert first.exit_code == 0, first.output
    again = run(
        "users",
        *("create", "--username", "admin", "--role", "admin", "--exists-ok"),
        input="another password here\n",
    )
    assert again.exit_code == 0 and "已存在" in again.output
    user = session.scalar(sa.select(User).where(User.username == "admin"))
    assert services.crypto.verify_password(PASSWORD, user.password_hash)
    assert not user.must_change_password
    duplicate = run("users", "create", "--username", "admin", "--role", "admin", input=PASSWORD)
    assert duplicate.exit_code == 1


def test_create_temporary_must_change_at_first_sign_in(run, session):
    result = run(
        "users", "create", "--username", "li.hr", "--role", "hr", "--temporary", input=PASSWORD
    )
    assert result.exit_code == 0
    assert session.scalar(sa.select(User.must_change_password).where(User.username == "li.hr"))


def test_tokens_create_list_revoke(run, client, session, make_user):
    make_user("hr", username="li.hr")
    created = run(
        "tokens", "create", "--username", "li.hr", "--label", "导入脚本", "--expires-in-days", "30"
    )
    assert created.exit_code == 0
    token = created.stdout.splitlines()[-1]
    row = session.scalar(sa.select(ApiToken).where(ApiToken.label == "导入脚本"))
    assert (row.expires_at - row.created_at).days == 30
    listed = run("tokens", "list", "--username", "li.hr")
    assert "导入脚本" in listed.output and "active" in listed.output and token not in listed.output
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tokens", headers=headers).status_code == 200
    revoked = run("tokens", "revoke", str(row.id))
    assert revoked.exit_code == 0 and "已撤销" in revoked.output
    assert client.get("/api/v1/tokens", headers=headers).status_code == 401
    assert "revoked" in run("tokens", "list").output
    assert run("tokens", "revoke", "99999").exit_code == 1
    assert run("tokens", "create", "--username", "li.hr", "--expires-in-days", "0").exit_code == 2
