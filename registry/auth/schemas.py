from marshmallow import Schema, fields, validate

from registry.fields import InstitutionCode
from registry.vocabulary import USER_ROLES

MIN_PASSWORD_LENGTH = 10


class NewUserSchema(Schema):
    username = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$",
            error="2-64 characters: letters, digits and . _ @ -, starting with a letter or digit",
        ),
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=MIN_PASSWORD_LENGTH, error=f"at least {MIN_PASSWORD_LENGTH} characters"
        ),
    )
    role = fields.String(required=True, validate=validate.OneOf(list(USER_ROLES)))
    institution = InstitutionCode(load_default=None)
