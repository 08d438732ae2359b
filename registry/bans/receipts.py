"""Receipts of hiring checks: compact tokens signed with Ed25519 that an inspector
verifies offline, from the registry's public key alone.

A token is ``v1.<payload>.<signature>``, both parts base64url without padding. The
payload is JSON: the check id, the institution code (or null), the number masked to its
first 3 and last 4 characters (6 and 4 in receipts issued before, which still verify),
the result, the time, and the id of the signing key.
The signature covers ``v1.<payload>``.
"""

import base64
import json
from dataclasses import dataclass

from registry.crypto import current_keyring, verify_signature
from registry.messages import _

VERSION = "v1"


class InvalidReceipt(ValueError):
    """The token is not a receipt we signed; the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(check, institution_code: str | None, masked_number: str) -> str:
    """Sign a receipt for a stored ``BanCheck``."""
    keyring = current_keyring()
    payload = {
        "check_id": check.id,
        "institution": institution_code,
        "id_number": masked_number,
        "result": check.result,
        "checked_at": check.checked_at.isoformat(timespec="seconds"),
        "kid": keyring.active_signing_kid,
    }
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    body = f"{VERSION}.{_b64(encoded)}"
    _, signature = keyring.sign(body.encode("ascii"))
    return f"{body}.{_b64(signature)}"


@dataclass(frozen=True)
class Receipt:
    check_id: int
    institution: str | None
    id_number: str
    result: str
    checked_at: str
    kid: str

    @property
    def number_shown(self) -> str:
        """The number as pages and the command line show it: first 3 and last 4
        characters. A receipt issued before showed the first 6; it still verifies (the
        signature covers what it says), but is shown like every other mask."""
        n = self.id_number
        if len(n) < 15:
            return n
        return n[:3] + "*" * (len(n) - 7) + n[-4:]


def verify(token: str, public_keys: dict[str, bytes]) -> Receipt:
    """The receipt in ``token`` if one of ``public_keys`` (kid → raw Ed25519 key) signed
    it; ``InvalidReceipt`` otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidReceipt(_("not a receipt token (expected v1.<payload>.<signature>)"))
    try:
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
        receipt = Receipt(**payload)
        if not isinstance(receipt.kid, str):
            raise TypeError("kid")
    except (ValueError, TypeError) as exc:
        raise InvalidReceipt(_("the receipt is malformed")) from exc
    key = public_keys.get(receipt.kid)
    if key is None:
        raise InvalidReceipt(
            _("signed with key {kid!r}, which is not among the known keys", kid=receipt.kid)
        )
    if not verify_signature(key, f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise InvalidReceipt(_("the signature does not match: the receipt was altered or forged"))
    return receipt
