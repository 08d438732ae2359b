from marshmallow import Schema, ValidationError, fields, validate

from registry.credentials.schemas import CertificateOutSchema
from registry.eligibility.schemas import DispatchSchema, ReasonSchema, RulesetRefSchema
from registry.fields import Day, IdentitySchema, InputSchema, PersonId, StrictBoolean, Text
from registry.messages import _
from registry.rates.schemas import RateSchema
from registry.vocabulary import STAFF_ROLES


def _declared(value: bool) -> None:
    if value is not True:
        raise ValidationError(
            _(
                "must be true: the institution declares that the person has full civil "
                "capacity and no criminal record barring work with children"
            )
        )


class HireSchema(IdentitySchema, DispatchSchema):
    role = fields.String(required=True, validate=validate.OneOf(list(STAFF_ROLES)))
    start = Day(required=True)
    declaration = StrictBoolean(
        required=True,
        validate=_declared,
        metadata={
            "description": "the institution's statement of the person's full civil capacity "
            "and clean criminal record (未成年人保护法 art. 62); must be true",
            "enum": [True],
        },
    )
    full_time = StrictBoolean(load_default=True)


class EmploymentSchema(Schema):
    id = fields.Integer()
    check_id = fields.Integer(metadata={"description": "on hiring: the hiring check"})
    receipt = fields.String(metadata={"description": "on hiring: the check's signed receipt"})
    person_id = PersonId()
    name = fields.String()
    role = fields.String()
    full_time = fields.Boolean()
    start = fields.Date()
    end = fields.Date(allow_none=True)
    dispatch_company = fields.String(allow_none=True)
    dispatch_licence = fields.String(allow_none=True)
    advisories = fields.List(
        fields.Nested(ReasonSchema),
        metadata={"description": "on hiring: the advisory rules not met (shown, not refusing)"},
    )


class EndSchema(InputSchema):
    end = Day(required=True, metadata={"description": "the last day in post"})


class AsOfSchema(InputSchema):
    as_of = Day(load_default=None, metadata={"description": "default: today"})


class ExpiringQuerySchema(AsOfSchema):
    within = fields.Integer(
        load_default=90, validate=validate.Range(min=0, max=3660), metadata={"description": "days"}
    )


class DistrictExpiringQuerySchema(ExpiringQuerySchema):
    district = Text(
        load_default=None,
        validate=validate.Length(max=100),
        metadata={
            "description": "in any spelling its ruleset knows: 拱墅区 finds 杭州市拱墅区",
            "format": "district",
        },
    )


class ClassComplianceSchema(Schema):
    type = fields.String()
    classes = fields.Integer()
    children = fields.Integer()
    max_children = fields.Integer()
    oversized = fields.Integer(metadata={"description": "classes over max_children"})
    children_per_caregiver = fields.Integer()
    caregivers_required = fields.Integer()


class StaffCountsSchema(Schema):
    caregivers = fields.Integer()
    caregivers_required = fields.Integer()
    health_staff = fields.Integer()
    health_staff_full_time = fields.Integer()
    health_staff_required = fields.Integer()
    health_staff_full_time_required = fields.Integer()
    cooks = fields.Integer()
    cooks_required = fields.Integer()


class ShortfallSchema(Schema):
    rule = fields.String(metadata={"example": "caregiver_ratio"})
    ok = fields.Boolean()
    severity = fields.String(
        metadata={
            "description": "required: a failure makes the institution not compliant; "
            "advisory: shown (a certification-rate target not yet due)"
        }
    )
    message = fields.String()
    source = fields.String(metadata={"description": "the document, and the article where read"})
    note = fields.String(
        allow_none=True, metadata={"description": "what of the source could not be verified"}
    )
    due = fields.Boolean(metadata={"description": "certification_rate: the target is due"})
    due_on = fields.Date(metadata={"description": "certification_rate: when the target falls due"})


class ComplianceSchema(Schema):
    institution = fields.String()
    as_of = fields.Date()
    ruleset = fields.Nested(RulesetRefSchema)
    compliant = fields.Boolean(metadata={"description": "no required check failed"})
    children = fields.Integer()
    classes = fields.List(fields.Nested(ClassComplianceSchema))
    staff = fields.Nested(StaffCountsSchema)
    certification = fields.Nested(
        RateSchema, metadata={"description": "the certification rate (持证率) on `as_of`"}
    )
    checks = fields.List(
        fields.Nested(ShortfallSchema),
        metadata={"description": "every institution rule that applies, passed or failed"},
    )
    shortfalls = fields.List(
        fields.Nested(ShortfallSchema), metadata={"description": "the checks that failed"}
    )


class ExpiringSchema(Schema):
    state = fields.String(
        validate=validate.OneOf(["expired", "expiring"]),
        metadata={"description": "expired: already, on `as_of`; expiring: within `within` days"},
    )
    institution = fields.String()
    institution_name = fields.String()
    person_id = PersonId()
    name = fields.String()
    roles = fields.List(fields.String())
    certificate = fields.Nested(CertificateOutSchema)
    expires_on = fields.Date()
    days_left = fields.Integer(allow_none=True, metadata={"description": "expiring only"})
    days_expired = fields.Integer(
        allow_none=True, metadata={"description": "expired only: days since the expiry date"}
    )


class RefusalSchema(Schema):
    """409 not_eligible: the error shape with the verdict's reasons."""

    code = fields.String(metadata={"example": "not_eligible"})
    message = fields.String()
    barred = fields.Boolean()
    reasons = fields.List(fields.Nested(ReasonSchema))
    check_id = fields.Integer()
    receipt = fields.String()
