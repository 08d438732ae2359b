from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from registry.fields import (
    CertificateNumber,
    Day,
    InputSchema,
    OrganisationName,
    Text,
    end_not_before_start,
    not_in_future,
)
from registry.vocabulary import CERTIFICATE_KINDS

from . import catalogue

STATES = ("valid", "expired", "revoked", "not_yet_valid")


class CertificateSchema(InputSchema):
    """A certificate as recorded. ``kind`` takes the contract value or any Chinese name
    of the catalogue (保育员 → childcare_worker); ``level`` any of the usual forms
    (三级, 3, 高级工), stored as "1" (highest) to "5"."""

    kind = fields.String(
        required=True,
        metadata={"description": f"one of {', '.join(CERTIFICATE_KINDS)}, or a Chinese name"},
    )
    level = Text(load_default=None, metadata={"example": "四级"})
    number = CertificateNumber(required=True, validate=validate.Length(max=64))
    issuer = OrganisationName(required=True, validate=validate.Length(max=200))
    issued_on = Day(required=True, validate=not_in_future)
    expires_on = Day(
        load_default=None,
        metadata={
            "description": "the last day valid; default: the legal validity (health: the day"
            " before the examination's first anniversary; nurse: 5 years)"
        },
    )

    @validates_schema
    def _expiry_after_issue(self, data, **kwargs):
        end_not_before_start(data, "issued_on", "expires_on")

    @post_load
    def _catalogue(self, data, **kwargs):
        try:
            data["kind"], implied = catalogue.resolve_kind(data["kind"])
        except catalogue.UnknownCertificate as exc:
            raise ValidationError(exc.message, "kind") from exc
        try:
            data["level"] = catalogue.normalize_level(data["kind"], data["level"], implied)
        except (catalogue.UnknownCertificate, catalogue.InvalidLevel) as exc:
            raise ValidationError(exc.message, "level") from exc
        return data


class RenewalSchema(InputSchema):
    """The new certificate of a renewal; kind and person are the renewed one's."""

    level = Text(load_default=None)
    number = CertificateNumber(required=True, validate=validate.Length(max=64))
    issuer = OrganisationName(
        validate=validate.Length(max=200), metadata={"description": "default: the same"}
    )
    issued_on = Day(required=True, validate=not_in_future)
    expires_on = Day(load_default=None)

    @validates_schema
    def _expiry_after_issue(self, data, **kwargs):
        end_not_before_start(data, "issued_on", "expires_on")


class RevocationSchema(InputSchema):
    reason = Text(required=True, validate=validate.Length(max=200))
    revoked_on = Day(
        load_default=None, validate=not_in_future, metadata={"description": "default: today"}
    )


class CertificateOutSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    kind_name = fields.String(metadata={"example": "保育师"})
    level = fields.String(allow_none=True)
    number = fields.String()
    issuer = fields.String()
    issued_on = fields.Date()
    expires_on = fields.Date(allow_none=True)
    state = fields.String(metadata={"description": f"on the as_of date: {', '.join(STATES)}"})
    revoked_on = fields.Date(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    replaces_id = fields.Integer(
        allow_none=True, metadata={"description": "the renewed certificate"}
    )
