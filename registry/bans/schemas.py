from marshmallow import Schema, fields, validate, validates_schema

from registry.fields import (
    MASKED,
    Day,
    IdentitySchema,
    InputSchema,
    InstitutionCode,
    Text,
    end_not_before_start,
)
from registry.vocabulary import BAN_CATEGORIES, BAN_STATUSES, CHECK_RESULTS


class BanSchema(IdentitySchema):
    """A ban as the bureau records it; ``until`` empty is a lifetime ban (终身禁入)."""

    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=validate.Length(max=100), metadata={"example": "张某"})
    id_number_masked = fields.String(dump_only=True, metadata=MASKED)
    category = fields.String(
        required=True,
        validate=validate.OneOf(list(BAN_CATEGORIES)),
        metadata={"description": ", ".join(f"{k} {v}" for k, v in BAN_CATEGORIES.items())},
    )
    authority = Text(
        required=True,
        validate=validate.Length(max=200),
        metadata={"example": "杭州市西湖区卫生健康局"},
    )
    decision_no = Text(
        required=True, validate=validate.Length(max=200), metadata={"example": "西卫禁〔2026〕3号"}
    )
    effective_on = Day(required=True)
    until = Day(load_default=None, allow_none=True, metadata={"description": "empty: for life"})
    status = fields.String(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_reason = fields.String(dump_only=True, allow_none=True)
    alerts = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "alerts raised for current employments"},
    )

    @validates_schema
    def _until_after_effective(self, data, **kwargs):
        end_not_before_start(data, "effective_on", "until")


class BanQuerySchema(InputSchema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(list(BAN_STATUSES)),
        metadata={"description": "active 有效 or revoked 已撤销; all when omitted"},
    )


class RevokeBanSchema(InputSchema):
    reason = Text(required=True, validate=validate.Length(max=200))


class CheckRequestSchema(IdentitySchema):
    purpose = Text(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"example": "入职前查询（保育人员）"},
    )
    institution = InstitutionCode(
        load_default=None,
        metadata={"description": "for whom (a director: always the own institution)"},
    )


class CheckResultSchema(Schema):
    result = fields.String(validate=validate.OneOf(list(CHECK_RESULTS)))
    check_id = fields.Integer()
    checked_at = fields.DateTime()
    receipt = fields.String(metadata={"description": "Ed25519-signed; verify offline"})
    contact = fields.String(metadata={"description": "whom to ask, when barred"})


class PersonQuerySchema(IdentitySchema):
    pass


class CheckRecordSchema(Schema):
    """A check as the bureau sees it when asked who checked a person."""

    check_id = fields.Integer()
    checked_at = fields.DateTime()
    institution = fields.String(allow_none=True)
    institution_name = fields.String(allow_none=True)
    user = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    result = fields.String()


class PublicKeySchema(Schema):
    kid = fields.String()
    algorithm = fields.String(metadata={"example": "Ed25519"})
    public_key = fields.String(metadata={"description": "raw 32-byte key, base64"})


class PublicKeysSchema(Schema):
    keys = fields.List(fields.Nested(PublicKeySchema))
