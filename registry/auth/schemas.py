from marshmallow import Schema, fields, validate

from registry.fields import InputSchema, InstitutionCode, Text
from registry.messages import _
from registry.vocabulary import USER_ROLES

from .services import MIN_PASSWORD_LENGTH

USERNAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$",
    error=_("2-64 characters: letters, digits and . _ @ -, starting with a letter or digit"),
)
# The shape only; the service checks the rest (not the username, not a common password).
PASSWORD_LENGTH = [
    validate.Length(
        min=MIN_PASSWORD_LENGTH,
        error=_("at least {length} characters", length=MIN_PASSWORD_LENGTH),
    ),
    validate.Length(max=200, error=_("at most {length} characters", length=200)),
]
ROLE = validate.OneOf(list(USER_ROLES))


class NewUserSchema(InputSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(
        required=True, load_only=True, validate=PASSWORD_LENGTH, metadata={"format": "password"}
    )
    role = fields.String(required=True, validate=ROLE)
    institution = InstitutionCode(load_default=None)


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    institution = fields.Function(
        lambda user: user.institution.code if user.institution else None,
        dump_only=True,
        allow_none=True,
    )
    active = fields.Boolean(dump_only=True)
    must_change_password = fields.Boolean(
        dump_only=True, metadata={"description": "the next sign-in must set a new password"}
    )
    created_at = fields.DateTime(dump_only=True)


class UserQuerySchema(InputSchema):
    role = fields.String(load_default=None, validate=ROLE)


class RoleSchema(InputSchema):
    role = fields.String(required=True, validate=ROLE)
    institution = InstitutionCode(load_default=None, metadata={"description": "directors only"})


class PasswordResetSchema(InputSchema):
    password = fields.String(
        required=True,
        load_only=True,
        validate=PASSWORD_LENGTH,
        metadata={
            "description": "temporary: the user must change it at the next sign-in",
            "format": "password",
        },
    )


class NewTokenSchema(InputSchema):
    label = Text(load_default="", validate=validate.Length(max=100))
    expires_in_days = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "default: the registry's setting (365)"},
    )
    username = fields.String(
        load_default=None, metadata={"description": "admin only: a token for another user"}
    )


class TokenSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = fields.Function(lambda token: token.user.username, dump_only=True)
    label = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "to the minute: noted once a minute at most"},
    )
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    state = fields.Method(
        "_state", dump_only=True, metadata={"description": "active, expired, revoked"}
    )

    def _state(self, token):
        from .services import token_state

        return token_state(token)


class IssuedTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={"description": "shown once, never again"})


class TokenQuerySchema(InputSchema):
    username = fields.String(load_default=None, metadata={"description": "admin only"})
