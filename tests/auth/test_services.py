import pytest
import sqlalchemy as sa
from marshmallow import ValidationError

from registry import crypto
from registry.audit import AuditEvent
from registry.auth import services
from registry.auth.models import ApiToken, SystemActor, User
from registry.auth.schemas import NewUserSchema
from registry.db import utcnow
from registry.errors import Conflict, Invalid, NotFound, Unauthorized
from tests.conftest import CODES

PASSWORD = "correct horse battery"


def _create(session, **fields):
    """As the CLI does it: the schema checks the shape, the service the rules."""
    values = {"username": "wang.li", "password": PASSWORD, "role": "bureau"} | fields
    return services.create_user(session, SystemActor("test"), NewUserSchema().load(values))


def test_password_is_stored_as_a_scrypt_hash(session):
    user = _create(session)
    assert user.password_hash.startswith("scrypt$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "a"}, "username"),
        ({"username": "王丽"}, "username"),
        ({"username": "x y"}, "username"),
        ({"role": "root"}, "role"),
        ({"password": "short"}, "password"),
        ({"institution": "91350100M000100Y44"}, "institution"),
    ],
)
def test_malformed_users_are_refused_naming_the_field(session, fields, field):
    with pytest.raises(ValidationError) as info:
        _create(session, **fields)
    assert field in info.value.messages


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "director"}, "bound to one institution"),
        ({"role": "hr", "institution": CODES[0]}, "not a hr user"),
    ],
)
def test_only_a_director_is_bound_to_an_institution(session, make_institution, fields, message):
    make_institution(CODES[0])
    with pytest.raises(Invalid, match="cannot be created") as info:
        _create(session, **fields)
    assert message in info.value.errors["institution"][0]
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_duplicate_username_is_a_conflict(session):
    _create(session)
    with pytest.raises(Conflict, match="wang.li"):
        _create(session, role="hr")


def test_director_is_bound_to_an_existing_institution(session, make_institution):
    with pytest.raises(NotFound):
        _create(session, role="director", institution=CODES[1])
    institution = make_institution(CODES[1])
    user = _create(session, role="director", institution=CODES[1].lower())
    assert user.institution_id == institution.id


def test_database_refuses_a_director_without_institution(session):
    """The rule holds in the schema too, not only in the service."""
    session.add(User(username="x1", password_hash="h", role="director"))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_token_round_trip_and_storage(session):
    user = _create(session)
    token = services.create_token(session, SystemActor("test"), user)
    assert services.authenticate_token(session, token) is user
    assert session.scalars(sa.select(ApiToken.digest)).all() == [crypto.token_digest(token)]


def test_unknown_revoked_and_inactive_tokens_are_refused(session):
    user = _create(session)
    token = services.create_token(session, SystemActor("test"), user)
    with pytest.raises(Unauthorized):
        services.authenticate_token(session, token + "x")
    user.active = False
    with pytest.raises(Unauthorized):
        services.authenticate_token(session, token)
    user.active = True
    session.scalar(sa.select(ApiToken)).revoked_at = utcnow()
    with pytest.raises(Unauthorized):
        services.authenticate_token(session, token)


def test_revoked_token_is_401_over_http(client, session, make_user):
    _, headers = make_user("bureau")
    assert client.get(f"/api/v1/institutions/{CODES[0]}", headers=headers).status_code == 404
    session.scalar(sa.select(ApiToken)).revoked_at = utcnow()
    session.flush()
    assert client.get(f"/api/v1/institutions/{CODES[0]}", headers=headers).status_code == 401


def test_user_and_token_creation_are_audited_without_secrets(session):
    user = _create(session, username="audit.me")
    token = services.create_token(session, SystemActor("cli:root"), user)
    events = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action, e.subject) for e in events] == [
        ("test", "user.created", "user:audit.me"),
        ("cli:root", "token.created", "user:audit.me"),
    ]
    assert events[0].data == {"role": "bureau", "institution": None}
    dumped = repr([(e.data, e.subject) for e in events])
    assert token not in dumped and PASSWORD not in dumped
