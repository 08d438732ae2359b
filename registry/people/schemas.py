from marshmallow import Schema, fields, validate, validates_schema

from registry.credentials.schemas import CertificateOutSchema
from registry.fields import (
    Day,
    IdentitySchema,
    StrictBoolean,
    Text,
    end_not_before_start,
    not_in_future,
)
from registry.vocabulary import EDUCATION_LEVELS, EXPERIENCE_FIELDS


class ExperienceSchema(Schema):
    id = fields.Integer(dump_only=True)
    field = fields.String(
        required=True,
        validate=validate.OneOf(list(EXPERIENCE_FIELDS)),
        metadata={"description": "childcare 托育/保育 · education 教育 · health 卫生 · other"},
    )
    organization = Text(required=True, validate=validate.Length(max=200))
    management = StrictBoolean(load_default=False, metadata={"description": "a management post"})
    start = Day(required=True, validate=not_in_future)
    end = Day(load_default=None, metadata={"description": "empty while still there"})

    @validates_schema
    def _end_after_start(self, data, **kwargs):
        end_not_before_start(data)


class PersonSchema(IdentitySchema):
    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=validate.Length(max=100), metadata={"example": "王芳"})
    id_number_masked = fields.String(
        dump_only=True, metadata={"description": "first 3 and last 4 characters only"}
    )
    education = fields.String(required=True, validate=validate.OneOf(list(EDUCATION_LEVELS)))
    major = Text(
        load_default=None, validate=validate.Length(max=200), metadata={"example": "学前教育"}
    )
    experience = fields.List(fields.Nested(ExperienceSchema), load_default=list)
    certificates = fields.List(fields.Nested(CertificateOutSchema), dump_only=True)
    as_of = fields.Date(dump_only=True, metadata={"description": "the date of certificate states"})
    created_at = fields.DateTime(dump_only=True)


class LookupSchema(IdentitySchema):
    as_of = Day(load_default=None, metadata={"description": "default: today"})


class ExperienceListSchema(Schema):
    experience = fields.List(
        fields.Nested(ExperienceSchema), required=True, validate=validate.Length(min=1)
    )
