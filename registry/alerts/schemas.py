from marshmallow import Schema, fields, validate

from registry.fields import InputSchema, InstitutionCode, PersonId
from registry.vocabulary import ALERT_KINDS


class AlertQuerySchema(InputSchema):
    acknowledged = fields.Boolean(
        load_default=None, metadata={"description": "true: only acknowledged; false: only open"}
    )
    institution = InstitutionCode(
        load_default=None, metadata={"description": "only this institution's (its code)"}
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(list(ALERT_KINDS)))


class AlertSchema(Schema):
    id = fields.Integer()
    kind = fields.String(
        metadata={"description": ", ".join(f"{k} {v}" for k, v in ALERT_KINDS.items())}
    )
    message = fields.String(metadata={"description": "what happened and what to do, 中文 first"})
    raised_at = fields.DateTime()
    institution = fields.String(allow_none=True, metadata={"description": "null: lookup_misses"})
    institution_name = fields.String(allow_none=True)
    employment_id = fields.Integer(allow_none=True)
    person_id = PersonId(allow_none=True)
    name = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    user = fields.String(
        allow_none=True,
        metadata={"description": "lookup_misses: the user whose lookups found nobody"},
    )
    user_role = fields.String(allow_none=True)
    user_institution = fields.String(allow_none=True, metadata={"description": "a director's"})
    user_institution_name = fields.String(allow_none=True)
    day = fields.Date(allow_none=True, metadata={"description": "lookup_misses: the China day"})
    misses = fields.Integer(
        allow_none=True, metadata={"description": "lookup_misses: lookups that found nobody"}
    )
    ban_id = fields.Integer(allow_none=True, metadata={"description": "bureau only"})
    ban_category = fields.String(allow_none=True, metadata={"description": "bureau only"})
    ban_category_name = fields.String(allow_none=True, metadata={"description": "bureau only"})
    certificate_id = fields.Integer(allow_none=True)
    certificate_kind = fields.String(allow_none=True)
    certificate_number = fields.String(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    revoked_on = fields.Date(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
