"""A small district to look at: one institution in 西湖区 with staff, a candidate who
is barred, one who is clear and eligible, an alert, and a user of every role, all made
through the command line and the API as an operator would. Used by the browser tests of
every page and by ``tests/pages/screenshots.py``."""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from registry import clock, create_app
from registry.auth.models import SystemActor
from registry.auth.services import create_token, create_user, get_user
from registry.config import load_settings
from registry.db import command_transaction
from registry.institutions.services import create_institution

PASSWORD = "托育登记 demo 2026"
CODE = "91350100M000100Y43"
# Valid resident ID numbers (check characters computed by registry.identity).
CLEAR = "110105199001010010"
BARRED = "110105198503120012"
STAFF = "11010519920303001X"


@dataclass
class Demo:
    base: str
    users: dict  # role -> username
    password: str = PASSWORD


def seed(env: dict, base: str) -> Demo:
    """Fill the instance of ``env``, served at ``base``; returns who can sign in.

    Accounts and the institution are made in this process through the services (as
    `registry users create` makes them, without a command's start-up each); people,
    certificates, the hire and the ban through the API."""
    users = {
        "admin": "admin",
        "bureau": "wang.bureau",
        "hr": "li.hr",
        "director": "zhao.director",
        "inspector": "chen.inspector",
    }
    app = create_app(load_settings(env))
    actor = SystemActor("demo")
    with app.app_context(), command_transaction() as session:
        create_institution(
            session,
            actor,
            {
                "code": CODE,
                "name": "西湖区阳光托育园",
                "district": "西湖区",
                "classes": [],
                "meals_on_site": True,
            },
        )
        for role, username in users.items():
            create_user(
                session,
                actor,
                {
                    "username": username,
                    "password": PASSWORD,
                    "role": role,
                    "institution": CODE if role == "director" else None,
                },
            )
        bureau = create_token(session, actor, get_user(session, users["bureau"]))
        director = create_token(session, actor, get_user(session, users["director"]))
    app.extensions["registry.engine"].dispose()
    today = clock.today()
    issued = today.replace(year=today.year - 1).isoformat()
    _call(
        base,
        bureau,
        "PATCH",
        f"/api/v1/institutions/{CODE}",
        {"classes": [{"type": "toddler", "children": 12}, {"type": "preschool", "children": 18}]},
    )
    for number, name in ((CLEAR, "王芳"), (STAFF, "阿依古丽·买买提"), (BARRED, "张某")):
        person = _call(
            base,
            bureau,
            "POST",
            "/api/v1/people",
            {
                "id_number": number,
                "name": name,
                "education": "junior_college",
                "major": "学前教育",
                "experience": [
                    {
                        "field": "childcare",
                        "organization": "杭州市某幼儿园",
                        "management": False,
                        "start": "2019-09-01",
                        "end": "2023-07-31",
                    }
                ],
            },
        )
        for kind, no in (
            ("health_certificate", "JK"),
            ("caregiver_training", "PX"),
            ("childcare_worker", "BY"),
        ):
            _call(
                base,
                bureau,
                "POST",
                f"/api/v1/people/{person['id']}/certificates",
                {
                    "kind": kind,
                    "level": "四级" if kind == "childcare_worker" else None,
                    "number": f"{no}-{number[-6:]}",
                    "issuer": "杭州市西湖区人力资源和社会保障局",
                    "issued_on": today.isoformat() if kind == "health_certificate" else issued,
                },
            )
    _call(
        base,
        director,
        "POST",
        f"/api/v1/institutions/{CODE}/employments",
        {
            "id_number": STAFF,
            "role": "caregiver",
            "start": today.isoformat(),
            "declaration": True,
        },
    )
    _call(
        base,
        bureau,
        "POST",
        "/api/v1/bans",
        {
            "id_number": BARRED,
            "name": "张某",
            "category": "abuse",
            "authority": "杭州市西湖区卫生健康局",
            "decision_no": "西卫禁〔2026〕1号",
            "effective_on": today.isoformat(),
        },
    )
    return Demo(base=base, users=users)


def _call(base: str, token: str, method: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own)
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None


def sign_in(page, demo: Demo, role: str) -> None:
    """Sign in through the form, as a person does."""
    from tests.pages.conftest import sign_in as sign_in_as

    sign_in_as(page, demo.base, demo.users[role], demo.password)
