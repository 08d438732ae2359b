"""Bans, as far as the eligibility rules need them: whether a number is barred.
Functions take the session and never commit."""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.crypto import current_keyring
from registry.identity import IdentityNumber

from .models import Ban


def is_barred(session: Session, identity: IdentityNumber, *days: date) -> bool:
    """Whether an active ban on this number is in force on any of ``days``.

    Callers pass the date asked about and today: a ban recorded since a past date
    still bars now, and one that starts later already bars a hire starting then.
    """
    indexes = list(current_keyring().blind_indexes(identity.canonical).values())
    in_force = sa.or_(
        *(
            sa.and_(Ban.effective_on <= day, sa.or_(Ban.until.is_(None), Ban.until >= day))
            for day in days
        )
    )
    query = sa.select(Ban.id).where(Ban.id_index.in_(indexes), Ban.status == "active", in_force)
    return session.scalar(query.limit(1)) is not None
