"""Certificates: recorded, revoked with a reason, renewed as new rows. Nothing is ever
deleted; every change is in ``certificate_changes`` and the audit log. Functions take
the session and never commit."""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry import clock
from registry.audit import actor_name, record_event
from registry.db import utcnow
from registry.eligibility.rules import Held
from registry.errors import Conflict, Invalid, NotFound
from registry.imports.turns import refuse_while_importing
from registry.messages import _

from . import catalogue
from .models import Certificate, CertificateChange


def state_on(certificate: Certificate, day: date) -> str:
    """``valid``, ``expired``, ``revoked`` or ``not_yet_valid`` on ``day``."""
    if certificate.status == "revoked" and certificate.revoked_on <= day:
        return "revoked"
    if certificate.issued_on > day:
        return "not_yet_valid"
    if certificate.expires_on is not None and certificate.expires_on < day:
        return "expired"
    return "valid"


def held(certificate: Certificate) -> Held:
    """The certificate as the eligibility rules see it."""
    return Held(
        kind=certificate.kind,
        number=certificate.number,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        revoked_on=certificate.revoked_on if certificate.status == "revoked" else None,
    )


def describe_certificate(certificate: Certificate, as_of: date, *, reasons: bool = True) -> dict:
    """A certificate as ``CertificateOutSchema`` dumps it, with its state on ``as_of``.

    ``reasons=False`` leaves out why a certificate was revoked: a reason typed by the
    bureau may tell an employer what a ban is for.
    """
    return {
        "id": certificate.id,
        "kind": certificate.kind,
        "kind_name": catalogue.KINDS[certificate.kind].name,
        "level": certificate.level,
        "number": certificate.number,
        "issuer": certificate.issuer,
        "issued_on": certificate.issued_on,
        "expires_on": certificate.expires_on,
        "state": state_on(certificate, as_of),
        "revoked_on": certificate.revoked_on,
        "revoked_reason": certificate.revoked_reason if reasons else None,
        "replaces_id": certificate.replaces_id,
    }


def certificates_of(session: Session, person_id: int) -> list[Certificate]:
    return list(
        session.scalars(
            sa.select(Certificate)
            .where(Certificate.person_id == person_id)
            .order_by(Certificate.kind, Certificate.issued_on, Certificate.id)
        )
    )


def get_certificate(session: Session, certificate_id: int) -> Certificate:
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound(_("no certificate with id {certificate_id}", certificate_id=certificate_id))
    return certificate


def _check_unique(session: Session, issuer: str, number: str) -> None:
    existing = session.scalar(
        sa.select(Certificate.id).where(Certificate.issuer == issuer, Certificate.number == number)
    )
    if existing is not None:
        raise Conflict(
            _("certificate {number} of {issuer} is already recorded", number=number, issuer=issuer),
            {"number": [_("already recorded for this issuer")]},
            id=existing,
        )


def _change(session, certificate, action, actor, changes, batch_id=None) -> None:
    session.add(
        CertificateChange(
            certificate=certificate,
            action=action,
            changes=changes,
            actor=actor_name(actor),
            import_batch_id=batch_id,
            changed_at=utcnow(),
        )
    )


def _snapshot(certificate: Certificate) -> dict:
    return {
        "kind": certificate.kind,
        "level": certificate.level,
        "number": certificate.number,
        "issuer": certificate.issuer,
        "issued_on": certificate.issued_on.isoformat(),
        "expires_on": certificate.expires_on and certificate.expires_on.isoformat(),
    }


def add_certificate(
    session: Session, actor, person, data: dict, *, replaces: Certificate | None = None
) -> Certificate:
    """Record a certificate from validated ``CertificateSchema`` data.

    Without an ``expires_on``, the catalogue's validity applies where the law sets one
    (a health certificate through the day before its examination's first anniversary, a
    nurse licence 5 years).
    """
    refuse_while_importing(session)
    _check_unique(session, data["issuer"], data["number"])
    expires_on = data.get("expires_on") or catalogue.default_expiry(data["kind"], data["issued_on"])
    certificate = Certificate(
        person_id=person.id,
        kind=data["kind"],
        level=data.get("level"),
        number=data["number"],
        issuer=data["issuer"],
        issued_on=data["issued_on"],
        expires_on=expires_on,
        replaces_id=replaces.id if replaces else None,
    )
    session.add(certificate)
    session.flush()
    snapshot = _snapshot(certificate)
    if replaces is not None:
        snapshot["replaces_id"] = replaces.id
    _change(session, certificate, "renewed" if replaces else "issued", actor, snapshot)
    record_event(
        session,
        actor,
        "certificate.renewed" if replaces else "certificate.recorded",
        f"certificate:{certificate.id}",
        {"person_id": person.id, **snapshot},
    )
    return certificate


def renew(session: Session, actor, certificate: Certificate, data: dict) -> Certificate:
    """A renewal is a new certificate of the same kind and person that names the one it
    replaces; the old row stays as it was, valid until its own expiry."""
    if certificate.status == "revoked":
        raise Conflict(_("a revoked certificate cannot be renewed; record a new one"))
    renewal = session.scalar(
        sa.select(Certificate.id).where(Certificate.replaces_id == certificate.id)
    )
    if renewal is not None:
        raise Conflict(
            _(
                "certificate {certificate} was already renewed by certificate {renewal}; "
                "renew that one",
                certificate=certificate.id,
                renewal=renewal,
            ),
            id=renewal,
        )
    data = {"kind": certificate.kind, "issuer": certificate.issuer, **data}
    if data.get("level") is None:
        data["level"] = certificate.level
    else:
        try:
            data["level"] = catalogue.normalize_level(certificate.kind, data["level"])
        except (catalogue.UnknownCertificate, catalogue.InvalidLevel) as exc:
            raise Invalid(_("the level is invalid"), {"level": [exc.message]}) from exc
    if data["issued_on"] < certificate.issued_on:
        raise Invalid(
            _("a renewal cannot be issued before the certificate it renews"),
            {"issued_on": [_("must be on or after {day}", day=certificate.issued_on)]},
        )
    return add_certificate(session, actor, certificate.person, data, replaces=certificate)


def revoke(
    session: Session, actor, certificate: Certificate, reason: str, revoked_on: date
) -> Certificate:
    """Revoke with a reason; the row and its history stay."""
    if certificate.status == "revoked":
        raise Conflict(
            _(
                "certificate {certificate} was already revoked on {day}",
                certificate=certificate.id,
                day=certificate.revoked_on,
            )
        )
    if revoked_on < certificate.issued_on:
        raise Invalid(
            _("a certificate cannot be revoked before it was issued"),
            {"revoked_on": [_("must be on or after {day}", day=certificate.issued_on)]},
        )
    certificate.status = "revoked"
    certificate.revoked_on = revoked_on
    certificate.revoked_reason = reason
    certificate.revoked_by_id = getattr(actor, "id", None)
    changes = {"revoked_on": revoked_on.isoformat(), "reason": reason}
    _change(session, certificate, "revoked", actor, changes)
    record_event(session, actor, "certificate.revoked", f"certificate:{certificate.id}", changes)
    session.flush()
    # Here, not at the top: alerts read people, and people read certificates.
    from registry.alerts.services import raise_for_revoked

    raise_for_revoked(session, certificate, clock.today())
    return certificate
