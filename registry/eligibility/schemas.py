from marshmallow import Schema, fields, validate

from registry.fields import Day, IdentitySchema, InstitutionCode
from registry.vocabulary import STAFF_ROLES


class EligibilityQuerySchema(IdentitySchema):
    role = fields.String(required=True, validate=validate.OneOf(list(STAFF_ROLES)))
    as_of = Day(load_default=None, metadata={"description": "default: today"})
    institution = InstitutionCode(
        load_default=None,
        metadata={
            "description": "whose district's rules apply (a director: always the own); "
            "default: the national baseline"
        },
    )


class ReasonSchema(Schema):
    rule = fields.String(metadata={"example": "qualification_certificate"})
    ok = fields.Boolean()
    message = fields.String(metadata={"description": "the requirement and what was found"})
    source = fields.String(metadata={"description": "the document and article"})


class RulesetRefSchema(Schema):
    id = fields.String(metadata={"example": "xihu"})
    name = fields.String()
    version = fields.String()


class VerdictSchema(Schema):
    role = fields.String()
    as_of = fields.Date()
    eligible = fields.Boolean(metadata={"description": "true only when every rule passes"})
    barred = fields.Boolean()
    person_id = fields.Integer(allow_none=True, metadata={"description": "null: not registered"})
    ruleset = fields.Nested(RulesetRefSchema)
    reasons = fields.List(fields.Nested(ReasonSchema))
    check_id = fields.Integer(metadata={"description": "the hiring check behind `barred`"})
    receipt = fields.String(metadata={"description": "the check's signed receipt"})
