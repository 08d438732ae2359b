import pytest

from registry.auth import services
from registry.auth.models import SystemActor
from registry.errors import Invalid


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1234", "at least 10 characters"),
        ("Wang.Li.Hr", "must not be the username"),
        ("1234567890", "a common password"),
        ("qwertyuiop", "a common password"),
        ("A123456789", "a common password"),  # compared lower-cased
        ("woaini1314", "a common password"),
        ("password123", "a common password"),
    ],
)
def test_weak_passwords_are_refused_saying_why(password, problem):
    problems = services.password_problems(password, "wang.li.hr")
    assert any(problem in p for p in problems), problems
    with pytest.raises(Invalid) as info:
        services.check_new_password(password, "wang.li.hr")
    assert info.value.errors["password"] == problems


def test_a_long_uncommon_password_is_accepted():
    assert services.password_problems("西湖 边的 托育园 2026", "wang.li.hr") == []
    assert services.password_problems("correct horse battery", "wang.li.hr") == []


def test_the_shipped_list_holds_thousands_and_the_chinese_favourites():
    common = services.common_passwords()
    assert len(common) > 1500
    assert {"1234567890", "qwertyuiop", "a123456789", "woaini1314", "5201314520"} <= common
    assert all(not p.startswith("#") for p in common)


def test_a_user_is_not_created_with_a_common_password(session):
    from registry.auth.schemas import NewUserSchema

    data = NewUserSchema().load({"username": "li.hr", "password": "1qaz2wsx3edc", "role": "hr"})
    with pytest.raises(Invalid) as info:
        services.create_user(session, SystemActor("test"), data)
    assert "password" in info.value.errors
