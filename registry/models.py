"""Imports every model, so that ``Base.metadata`` holds the whole schema (for Alembic)."""

from registry.alerts.models import Alert
from registry.audit import AuditEvent
from registry.auth.models import ApiToken, SignInFailure, User, WebSession
from registry.bans.models import Ban, BanCheck
from registry.credentials.models import Certificate, CertificateChange
from registry.imports.models import ImportBatch, ImportJob, ImportRowError
from registry.institutions.models import Institution, InstitutionClass
from registry.keys.models import KeyCheck
from registry.limits import LimitedRequest
from registry.people.models import Experience, Person, PersonChange
from registry.staffing.models import Employment

__all__ = [
    "Alert",
    "ApiToken",
    "AuditEvent",
    "Ban",
    "BanCheck",
    "Certificate",
    "CertificateChange",
    "Employment",
    "Experience",
    "ImportBatch",
    "ImportJob",
    "ImportRowError",
    "Institution",
    "InstitutionClass",
    "KeyCheck",
    "LimitedRequest",
    "Person",
    "PersonChange",
    "SignInFailure",
    "User",
    "WebSession",
]
