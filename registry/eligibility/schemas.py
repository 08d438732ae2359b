from marshmallow import Schema, fields, validate

from registry.eligibility.rulesets import SEVERITIES
from registry.fields import Day, IdentitySchema, InputSchema, InstitutionCode, PersonId, Text
from registry.vocabulary import STAFF_ROLES


class DispatchSchema(InputSchema):
    """A security guard's dispatching company and its 保安服务许可证 number."""

    dispatch_company = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "security_guard: the dispatching security company"},
    )
    dispatch_licence = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "security_guard: the company's 保安服务许可证 number"},
    )


def dispatch_of(data: dict) -> dict:
    return {"company": data.get("dispatch_company"), "licence": data.get("dispatch_licence")}


class EligibilityQuerySchema(IdentitySchema, DispatchSchema):
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
    source = fields.String(metadata={"description": "the document, and the article where read"})
    severity = fields.String(
        metadata={
            "description": "required: a failure makes the person not eligible; "
            "advisory: shown, never refusing",
            "enum": list(SEVERITIES),
        }
    )
    note = fields.String(
        allow_none=True, metadata={"description": "what of the source could not be verified"}
    )


class RulesetRefSchema(Schema):
    id = fields.String(metadata={"example": "xihu"})
    name = fields.String()
    version = fields.String()


class VerdictSchema(Schema):
    role = fields.String()
    as_of = fields.Date()
    eligible = fields.Boolean(
        metadata={"description": "true when every required rule passes (advisory ones aside)"}
    )
    barred = fields.Boolean()
    person_id = PersonId("the person's public id; null: not registered", allow_none=True)
    ruleset = fields.Nested(RulesetRefSchema)
    reasons = fields.List(fields.Nested(ReasonSchema))
    check_id = fields.Integer(metadata={"description": "the hiring check behind `barred`"})
    receipt = fields.String(metadata={"description": "the check's signed receipt"})
