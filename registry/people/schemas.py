from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from registry.credentials.schemas import CertificateOutSchema
from registry.fields import (
    MASKED,
    Day,
    IdentitySchema,
    InputSchema,
    PersonId,
    StrictBoolean,
    Text,
    end_not_before_start,
    not_in_future,
)
from registry.messages import _
from registry.vocabulary import EDUCATION_LEVELS, EXPERIENCE_FIELDS


class ExperienceSchema(InputSchema):
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
    id = PersonId(dump_only=True)
    name = Text(required=True, validate=validate.Length(max=100), metadata={"example": "王芳"})
    id_number_masked = fields.String(dump_only=True, metadata=MASKED)
    education = fields.String(required=True, validate=validate.OneOf(list(EDUCATION_LEVELS)))
    major = Text(
        load_default=None, validate=validate.Length(max=200), metadata={"example": "学前教育"}
    )
    experience = fields.List(fields.Nested(ExperienceSchema), load_default=list)
    certificates = fields.List(fields.Nested(CertificateOutSchema), dump_only=True)
    as_of = fields.Date(dump_only=True, metadata={"description": "the date of certificate states"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "last corrected"}
    )
    merged_into = PersonId(
        "the record this one (under a wrong number) was merged into",
        dump_only=True,
        allow_none=True,
    )


class LookupSchema(IdentitySchema):
    as_of = Day(load_default=None, metadata={"description": "default: today"})


class ExperienceListSchema(InputSchema):
    experience = fields.List(
        fields.Nested(ExperienceSchema), required=True, validate=validate.Length(min=1)
    )


def _reason():
    return Text(
        required=True,
        validate=validate.Length(max=500),
        metadata={"description": "原因 why, kept in the history", "example": "按毕业证书更正学历"},
    )


class ExperienceCorrectionSchema(InputSchema):
    """A period to add (no ``id``: field, organization and start required) or to correct
    (its ``id`` and the fields that change)."""

    id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    field = fields.String(validate=validate.OneOf(list(EXPERIENCE_FIELDS)))
    organization = Text(validate=validate.Length(max=200))
    management = StrictBoolean()
    start = Day(validate=not_in_future)
    end = Day(allow_none=True)

    @validates_schema
    def _complete(self, data, **kwargs):
        if "id" in data:
            if len(data) == 1:
                raise ValidationError(_("name the fields to correct"), "id")
            return
        missing = {
            name: [_("required for a new period")]
            for name in ("field", "organization", "start")
            if name not in data
        }
        if missing:
            raise ValidationError(missing)
        end_not_before_start(data)


class CorrectionSchema(InputSchema):
    """A correction: the fields that change, and why. ``major: null`` clears the major."""

    reason = _reason()
    name = Text(validate=validate.Length(max=100), metadata={"example": "王芳"})
    education = fields.String(validate=validate.OneOf(list(EDUCATION_LEVELS)))
    major = Text(allow_none=True, validate=validate.Length(max=200))
    experience = fields.List(
        fields.Nested(ExperienceCorrectionSchema),
        metadata={"description": "periods to add, or to correct by `id`"},
    )
    remove_experience = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        metadata={"description": "ids of periods recorded in error"},
    )


class HistoryEntrySchema(Schema):
    id = fields.Integer()
    person_id = PersonId("the record the entry is of")
    action = fields.String(metadata={"description": "corrected · merged · merged_into"})
    reason = fields.String()
    changes = fields.Dict(
        metadata={"description": "each field's value before (`from`) and after (`to`)"}
    )
    previous_name = fields.String(
        allow_none=True, metadata={"description": "the name before a correction of it"}
    )
    other_person_id = PersonId("a merge: the other record", allow_none=True)
    actor = fields.String()
    changed_at = fields.DateTime()


class NameSearchSchema(InputSchema):
    name = Text(required=True, validate=validate.Length(max=100), metadata={"example": "王芳"})


class FoundPersonSchema(Schema):
    id = PersonId()
    name = fields.String()
    id_type = fields.String()
    id_number_masked = fields.String(metadata=MASKED)
    education = fields.String(allow_none=True)
    created_at = fields.DateTime()


class SearchResultSchema(Schema):
    people = fields.List(fields.Nested(FoundPersonSchema))
    more = fields.Boolean(metadata={"description": "more people have the name than listed"})


class MergeSchema(InputSchema):
    into = PersonId("the record under the right number (its public id)", required=True)
    reason = _reason()
    names_differ = StrictBoolean(
        load_default=False, metadata={"description": "merge although the names differ"}
    )
