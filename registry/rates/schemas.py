from marshmallow import Schema, fields, post_dump

from registry.credentials.schemas import CertificateOutSchema
from registry.fields import MASKED, Day, InputSchema, PersonId, Text


class RatesQuerySchema(InputSchema):
    as_of = Day(load_default=None, metadata={"description": "default: today"})
    district = Text(
        load_default=None,
        metadata={
            "description": "only this district, in any spelling its ruleset knows",
            "format": "district",
        },
    )


class RateSchema(Schema):
    staff = fields.Integer(
        metadata={"description": "in post on the date, in roles that require a certificate"}
    )
    certified = fields.Integer(
        metadata={"description": "of those, holding a certificate that counts, valid on the date"}
    )
    rate = fields.Float(allow_none=True, metadata={"description": "null where staff is 0"})
    target = fields.Float(
        allow_none=True, metadata={"description": "the district's target; null where none is set"}
    )
    meets_target = fields.Boolean(
        allow_none=True, metadata={"description": "the rate against the target, due or not"}
    )
    due = fields.Boolean(
        metadata={
            "description": "only with a target: true on and after 31 December of the "
            "target's year; before that a rate below it is not yet a shortfall"
        }
    )
    due_on = fields.Date(metadata={"description": "only with a target: when it falls due"})

    @post_dump
    def _due_only_with_a_target(self, data, **kwargs):
        if data.get("target") is None:
            data.pop("due", None)
            data.pop("due_on", None)
        return data


class InstitutionRateSchema(RateSchema):
    code = fields.String()
    name = fields.String()
    district = fields.String()


class DistrictRateSchema(RateSchema):
    district = fields.String()
    institutions = fields.Integer()


class RatesSchema(Schema):
    as_of = fields.Date()
    institutions = fields.List(fields.Nested(InstitutionRateSchema))
    districts = fields.List(fields.Nested(DistrictRateSchema))


class CountedSchema(Schema):
    employment_id = fields.Integer()
    person_id = PersonId()
    name = fields.String()
    id_number = fields.String(metadata=MASKED)
    role = fields.String()
    start = fields.Date()
    certified = fields.Boolean()
    certificate = fields.Nested(CertificateOutSchema, allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "why no certificate counts"})


class ExplanationSchema(RateSchema):
    institution = fields.String()
    name = fields.String()
    district = fields.String()
    as_of = fields.Date()
    counted = fields.List(fields.Nested(CountedSchema))
