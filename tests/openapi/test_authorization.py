"""Who may do what, generated from what the registry declares: every operation of the
OpenAPI document (its ``x-roles``, written by ``@require``/``@public``) and every web
page (the roles of ``@page``) is called by every role, by nobody, and with an expired
and a revoked token.

Admitted: anything but 401 and 403 (a 404 for a record that is not there, a 422 for
the empty body, are answers past the door). Refused: 403 for a signed-in role; for
nobody, 401 from the API and a redirect to sign in from a page. A new operation or page
that declares no roles fails here before it ships.
"""

import re
from datetime import timedelta

import pytest

from registry import clock
from registry.auth import services as auth
from registry.auth.access import ANYONE
from registry.auth.models import SystemActor
from registry.vocabulary import USER_ROLES
from registry.web import NAV
from tests.conftest import CODES

ROLES = ["admin", "bureau", "hr", "director", "inspector"]
PRINCIPALS = [*ROLES, "no token", "expired token", "revoked token"]
# Pages that decide for themselves: the home page sends each role to its landing,
# signing in and out, and changing one's password (which a signed-in user of any role,
# or one who must change it, reaches).
OPEN_PAGES = {"pages.home", "pages.login", "pages.logout", "pages.change_password"}
# A path argument that names no record: the answer is past the door (404), never a 403
# for a record of somebody else's that a role may see only for itself.
ABSENT_ID = 999_999
ABSENT_PERSON = "0" * 32  # a person's public id that names nobody


def _argument(name: str) -> str:
    return {"code": CODES[0], "person_id": ABSENT_PERSON}.get(name, str(ABSENT_ID))


@pytest.fixture
def principals(app, session, make_institution, make_user):
    """Authorization headers for every principal; the director's institution is
    CODES[0], so its own institution is the one in the paths."""
    institution = make_institution(code=CODES[0])
    headers = {}
    for role in ROLES:
        _, headers[role] = make_user(role, institution=institution if role == "director" else None)
    user, _ = make_user("bureau")
    expiring = auth.create_token(session, SystemActor("test"), user, expires_in_days=1)
    token, row = auth.issue_token(session, SystemActor("test"), user)
    auth.revoke_token(session, SystemActor("test"), row)
    headers["expired token"] = {"Authorization": f"Bearer {expiring}"}
    headers["revoked token"] = {"Authorization": f"Bearer {token}"}
    headers["no token"] = {}
    session.flush()
    return headers


def _operations(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield method.upper(), path, operation


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _argument(m[1]), path)


def test_every_operation_declares_its_roles(client):
    undeclared = [f"{m} {p}" for m, p, op in _operations(client) if not op.get("x-roles")]
    assert not undeclared, f"operations without x-roles (@require or @public): {undeclared}"
    for method, path, operation in _operations(client):
        assert set(operation["x-roles"]) <= {*USER_ROLES, ANYONE}, (method, path)
        if ANYONE not in operation["x-roles"]:
            # People read the same list in the operation's description.
            assert f"Roles: {', '.join(operation['x-roles'])}." in operation["description"]


def test_every_operation_admits_exactly_its_roles(client, principals):
    later = clock.now() + timedelta(days=2)  # the one-day token has expired by then
    wrong = []
    for method, path, operation in _operations(client):
        admitted = set(operation["x-roles"])
        for principal in PRINCIPALS:
            kwargs = {"headers": principals[principal]}
            if "requestBody" in operation:
                kwargs["json"] = {}
            with clock.fixed_at(later):
                status = client.open(_fill(path), method=method, **kwargs).status_code
            if ANYONE in admitted or principal in admitted:
                expected, ok = "admitted", status not in (401, 403)
            elif principal in ROLES:
                expected, ok = "403", status == 403
            else:
                expected, ok = "401", status == 401
            if not ok:
                wrong.append(f"{method} {path} as {principal}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------- pages


def _pages(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/static/")):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule, getattr(view, "page_roles", None)


def _page_path(rule) -> str:
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: _argument(m[2]), rule.rule)


def test_every_page_declares_its_roles_and_the_navigation_agrees(app):
    undeclared = {r.endpoint for _, r, roles in _pages(app) if roles is None} - OPEN_PAGES
    assert not undeclared, f"pages without @page(roles): {sorted(undeclared)}"
    declared = {r.endpoint: roles for _, r, roles in _pages(app)}
    for role, entries in NAV.items():
        for endpoint, label in entries:
            # The navigation never leads a role to a page that refuses it.
            assert role in declared[endpoint], (role, endpoint, label)


def _signed_in_client(app, username):
    from tests.auth.conftest import csrf_of, sign_in

    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client, csrf_of(client, "/tokens")


def test_every_page_admits_exactly_its_roles(app, session, make_institution, make_user):
    from tests.auth.conftest import csrf_of

    institution = make_institution(code=CODES[0])
    clients = {}
    for role in ROLES:
        user, _ = make_user(role, institution=institution if role == "director" else None)
        clients[role] = _signed_in_client(app, user.username)
    nobody = app.test_client()
    clients["nobody"] = (nobody, csrf_of(nobody, "/login"))
    wrong = []
    for method, rule, roles in _pages(app):
        if roles is None:
            continue
        for principal, (client, csrf) in clients.items():
            data = {"csrf_token": csrf} if method == "POST" else None
            response = client.open(_page_path(rule), method=method, data=data)
            status, location = response.status_code, response.headers.get("Location", "")
            if principal == "nobody":
                expected, ok = "sign-in", status == 302 and location.startswith("/login")
            elif principal in roles:
                expected, ok = "admitted", status not in (401, 403)
            else:
                expected, ok = "403", status == 403
            if not ok:
                wrong.append(f"{method} {rule.rule} as {principal}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)
