"""Every use of `cryptography`: keys, the blind index, field encryption, signing, secrets.

Keys live in files under the keys folder, never in the database, one folder per purpose:

    keys/blind_index/<kid>.key   32 random bytes, base64: HMAC-SHA256 blind index
    keys/encryption/<kid>.key    32 random bytes, base64: AES-256-GCM field encryption
    keys/receipts/<kid>.pem      Ed25519 private key (PKCS#8): signed check receipts

A key id (kid) starts with the UTC time the key was made, so the newest key is the active one and
older keys stay readable until they are retired (moved to ``retired/<purpose>/``, which
is never loaded). Every ciphertext and signature names its kid, which is what makes
rotation possible (``registry keys rotate``). A running app notices new and retired keys
by itself: ``current_keyring`` reloads the keys when their files change.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidKey, InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from flask import current_app

from registry.config import ConfigError
from registry.messages import _

PURPOSES = ("blind_index", "encryption", "receipts")
_SUFFIX = {"blind_index": ".key", "encryption": ".key", "receipts": ".pem"}
_FORMAT_VERSION = 1
_NONCE_BYTES = 12
_SHA256_BLOCK = 64  # bytes: HMAC pads keys to the hash's block size
RETIRED = "retired"

log = logging.getLogger(__name__)


class KeyFileError(ConfigError):
    """Keys are missing or unreadable; the message names the folder and purpose."""


class DecryptionError(RuntimeError):
    """A ciphertext does not decrypt: a wrong key, a retired key, or tampering."""


def _new_kid() -> str:
    # The time orders keys by age; the random part keeps kids of two instances apart,
    # so that a ciphertext from elsewhere is reported as "key not loaded".
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ-") + secrets.token_hex(3)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_secret(path: Path, data: bytes) -> None:
    # Written beside under a name no loader reads, then linked into place: a running app
    # that reloads its keys never sees half a key, and an existing file is never replaced.
    # Synced, because rows are re-encrypted under the key as soon as it exists.
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(partial, path)  # fails if the file exists
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                raise FileExistsError(path) from None
            os.rename(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def generate_key(keys_dir: Path, purpose: str) -> str:
    """Write a new key for ``purpose`` and return its kid; it becomes the active key."""
    folder = Path(keys_dir) / purpose
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(Path(keys_dir), 0o700)
    kid = _new_kid()
    if purpose == "receipts":
        data = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        data = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    _write_secret(folder / f"{kid}{_SUFFIX[purpose]}", data)
    return kid


def retire_key(keys_dir: Path, purpose: str, kid: str) -> Path:
    """Move a key out of use, to ``retired/<purpose>/`` (never loaded, kept for the
    backups written under it); returns where it went."""
    source = Path(keys_dir) / purpose / f"{kid}{_SUFFIX[purpose]}"
    folder = Path(keys_dir) / RETIRED / purpose
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder.parent, 0o700)
    target = folder / source.name
    if target.exists():
        raise KeyFileError(
            _("{target} exists already; {source} was not moved", target=target, source=source)
        )
    source.rename(target)
    _fsync_dir(folder)
    _fsync_dir(source.parent)
    return target


def kid_created_at(kid: str) -> datetime:
    """When the key was made, from its kid."""
    return datetime.strptime(kid.split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def missing_purposes(keys_dir: Path) -> list[str]:
    return [p for p in PURPOSES if not list((Path(keys_dir) / p).glob(f"*{_SUFFIX[p]}"))]


def generate_missing_keys(keys_dir: Path) -> list[str]:
    """Create a key for every purpose that has none; return the purposes created."""
    created = missing_purposes(keys_dir)
    for purpose in created:
        generate_key(keys_dir, purpose)
    return created


KID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")


def _load_key(path: Path, purpose: str):
    return _load_key_bytes(path.read_bytes(), purpose)


def _load_key_bytes(data: bytes, purpose: str):
    if purpose == "receipts":
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return key
    raw = base64.b64decode(data.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError(f"{len(raw)} bytes instead of 32")
    return raw if purpose == "blind_index" else AESGCM(raw)


def _files_stamp(keys_dir: Path) -> tuple:
    """What the key folders hold (names, sizes, times): the keys are reloaded when it changes.

    File entries rather than folder times alone: folder times are coarse on some file
    systems, and a key file replaced in place (or a mounted secret's symlink) leaves its
    folder's time unchanged.
    """
    stamp = []
    for purpose in PURPOSES:
        try:
            with os.scandir(Path(keys_dir) / purpose) as entries:
                files = []
                for entry in entries:
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # moved away while we looked; the next look sees it
                    files.append((entry.name, st.st_size, st.st_mtime_ns))
        except OSError:
            files = None
        stamp.append((purpose, None if files is None else tuple(sorted(files))))
    return tuple(stamp)


def _load_purpose(keys_dir: Path, purpose: str) -> dict:
    """Every key of ``purpose`` by kid; a file that is not a well-formed key is an error,
    never skipped: a stray file must not become, or hide, the active key."""
    keys = {}
    for path in sorted((Path(keys_dir) / purpose).glob(f"*{_SUFFIX[purpose]}")):
        kid = path.name.removesuffix(_SUFFIX[purpose])
        if not KID.match(kid):
            raise KeyFileError(
                _("{path}: not a key file name that `registry init` makes", path=path)
            )
        try:
            keys[kid] = _load_key(path, purpose)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(
                _(
                    "{path}: unreadable {purpose} key ({reason})",
                    path=path,
                    purpose=purpose,
                    reason=exc,
                )
            ) from exc
    return keys


def check_private(keys_dir: Path) -> None:
    """Refuse a keys folder, or anything in it, that the group or other users may read,
    write or enter, naming the ``chmod`` that fixes it: a key readable by another account
    unmasks every identity number, and one writable by it can be swapped."""
    root = Path(keys_dir)
    if not root.is_dir():
        return  # missing keys are reported as such
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for path, wanted in [(Path(folder), 0o700)] + [
            (Path(folder) / name, 0o600) for name in sorted(files)
        ]:
            mode = path.stat().st_mode & 0o777  # a mounted secret's link: its file
            if mode & 0o077:
                raise KeyFileError(
                    _(
                        "{path}: the group or other users may use it (mode {mode:o}); fix it "
                        "with: chmod {wanted:o} {path}",
                        path=path,
                        mode=mode,
                        wanted=wanted,
                    )
                )


# -- key check values ----------------------------------------------------------------

# A keyed value of a fixed label under each key, stored in the database (``key_check``):
# at start, the keys in the folder must be the ones the database was written with. The
# value reveals nothing of the key (HMAC-SHA256; for a signing key, a hash of its public
# key), only whether two keys are the same.
_CHECK_LABEL = b"registry key check value v1"


def _check_value(purpose: str, data: bytes) -> str:
    key = _load_key_bytes(data, purpose)
    if purpose == "receipts":
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return hashlib.sha256(_CHECK_LABEL + public).hexdigest()[:32]
    raw = base64.b64decode(data.strip(), validate=True)
    return hmac.digest(raw, _CHECK_LABEL, "sha256").hex()[:32]


def check_values(keys_dir: Path, *, retired: bool = False) -> dict[str, dict[str, str]]:
    """The check value of every key in the folder by purpose and kid (with the retired
    ones too when ``retired``); a file that is no key is left to ``Keyring.load``."""
    values: dict[str, dict[str, str]] = {}
    folders = [Path(keys_dir)] + ([Path(keys_dir) / RETIRED] if retired else [])
    for purpose in PURPOSES:
        found = values.setdefault(purpose, {})
        for folder in folders:
            for path in sorted((folder / purpose).glob(f"*{_SUFFIX[purpose]}")):
                kid = path.name.removesuffix(_SUFFIX[purpose])
                try:
                    found.setdefault(kid, _check_value(purpose, path.read_bytes()))
                except (ValueError, TypeError, OSError):
                    continue
    return values


# -- keys wrapped under a passphrase (backups) -----------------------------------------

# scrypt at 2**17 x 8 (128 MiB, about half a second): a backup's passphrase is guessed
# offline, with no rate limit, so it costs more than a sign-in's password.
_WRAP_N, _WRAP_R, _WRAP_P = 2**17, 8, 1
_WRAP_AAD = b"registry backup keys v1"


class WrongPassphrase(ValueError):
    """The passphrase does not open the wrapped keys (or they were altered)."""


def wrap_secret(plaintext: bytes, passphrase: str) -> dict:
    """``plaintext`` sealed with AES-256-GCM under a key derived from ``passphrase`` with
    scrypt; a dict of the parameters and the sealed bytes, ready for JSON."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(_NONCE_BYTES)
    key = Scrypt(salt=salt, length=32, n=_WRAP_N, r=_WRAP_R, p=_WRAP_P).derive(
        passphrase.encode("utf-8")
    )
    b64 = base64.b64encode
    return {
        "kdf": "scrypt",
        "n": _WRAP_N,
        "r": _WRAP_R,
        "p": _WRAP_P,
        "salt": b64(salt).decode(),
        "cipher": "AES-256-GCM",
        "nonce": b64(nonce).decode(),
        "sealed": b64(AESGCM(key).encrypt(nonce, plaintext, _WRAP_AAD)).decode(),
    }


def unwrap_secret(box: dict, passphrase: str) -> bytes:
    """The plaintext of ``wrap_secret``; ``WrongPassphrase`` when it does not open."""
    try:
        if box["kdf"] != "scrypt" or box["cipher"] != "AES-256-GCM":
            raise ValueError("unknown wrapping")
        n, r, p = int(box["n"]), int(box["r"]), int(box["p"])
        if n > 2**20 or r > 16 or p > 4:  # a doctored file must not exhaust the memory
            raise ValueError("scrypt parameters out of range")
        salt, nonce = base64.b64decode(box["salt"]), base64.b64decode(box["nonce"])
        sealed = base64.b64decode(box["sealed"])
        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
        return AESGCM(key).decrypt(nonce, sealed, _WRAP_AAD)
    except (KeyError, TypeError, ValueError, InvalidTag) as exc:
        raise WrongPassphrase(str(exc) or type(exc).__name__) from exc


@dataclass(frozen=True)
class Keyring:
    """The keys of one instance, loaded at start and again when the key files change."""

    blind_keys: dict[str, bytes]
    encryption_keys: dict[str, AESGCM]
    signing_keys: dict[str, Ed25519PrivateKey]
    # Where the keys came from, and what the folders held just before they were read.
    keys_dir: Path | None = field(default=None, compare=False)
    stamp: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def load(cls, keys_dir: Path) -> "Keyring":
        # Taken before reading: a change made while we read shows as a change next time.
        stamp = _files_stamp(keys_dir)
        check_private(keys_dir)
        missing = missing_purposes(keys_dir)
        if missing:
            raise KeyFileError(
                _(
                    "no {keys} key in {folder} (run `registry init` to create keys outside "
                    "production, or install the keys there)",
                    keys=", ".join(missing),
                    folder=keys_dir,
                )
            )
        return cls(
            blind_keys=_load_purpose(keys_dir, "blind_index"),
            encryption_keys=_load_purpose(keys_dir, "encryption"),
            signing_keys=_load_purpose(keys_dir, "receipts"),
            keys_dir=Path(keys_dir),
            stamp=stamp,
        )

    # The newest kid is the active one (kids are UTC times, so they sort by age).
    @property
    def active_blind_kid(self) -> str:
        return max(self.blind_keys)

    @property
    def active_encryption_kid(self) -> str:
        return max(self.encryption_keys)

    @property
    def active_signing_kid(self) -> str:
        return max(self.signing_keys)

    # -- blind index ------------------------------------------------------------------

    def blind_index(self, canonical: str, kid: str | None = None) -> bytes:
        """HMAC-SHA256 of an identity number's canonical form (type family and number).

        Without the key, an index reveals nothing: the space of identity numbers is small
        enough that an unkeyed hash is brute-forced in minutes.
        """
        key = self.blind_keys[kid or self.active_blind_kid]
        return hmac.digest(key, canonical.encode("utf-8"), "sha256")

    def indexer(self, kid: str | None = None) -> Callable[[str], bytes]:
        """``blind_index`` under one key, for loops over a roll's rows: the same
        HMAC-SHA256, with the key's inner and outer hash states computed once (RFC 2104)
        and copied per value, which takes half the time of ``hmac.digest``."""
        key = self.blind_keys[kid or self.active_blind_kid]
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

        def index(canonical: str) -> bytes:
            digest = inner.copy()
            digest.update(canonical.encode("utf-8"))
            result = outer.copy()
            result.update(digest.digest())
            return result.digest()

        # Checked against the standard library once per key, so it can never drift from it.
        if index("indexer self-check") != self.blind_index("indexer self-check", kid):
            raise RuntimeError("the blind indexer disagrees with hmac.digest")
        return index

    def blind_indexes(self, canonical: str) -> dict[str, bytes]:
        """The index under every loaded key, for lookups while a rotation is under way."""
        return {kid: self.blind_index(canonical, kid) for kid in self.blind_keys}

    # -- web sessions -----------------------------------------------------------------

    def session_digests(self, session_id: str) -> list[bytes]:
        """The keyed HMAC a web session's id is stored as, under every loaded blind-index
        key, the active one first (a session made before a rotation still matches)."""
        kids = sorted(self.blind_keys, reverse=True)
        return [self.blind_index(f"web-session:{session_id}", kid) for kid in kids]

    def app_secret(self) -> bytes:
        """A secret for the signed cookie holding the sign-in form's CSRF token, derived
        from the active blind-index key so that every worker of an instance agrees."""
        return self.blind_index("flask-secret-key")

    # -- field encryption -------------------------------------------------------------

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """AES-256-GCM under the active key; ``context`` (e.g. ``"person.name"``) is bound
        as associated data, so a ciphertext cannot be moved to another column unnoticed."""
        kid = self.active_encryption_kid
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self.encryption_keys[kid].encrypt(
            nonce, plaintext.encode("utf-8"), context.encode()
        )
        return ciphertext_prefix(kid) + nonce + sealed

    def encrypter(self, context: str) -> Callable[[str], bytes]:
        """``encrypt`` for one context, its key looked up once: for loops over a roll's
        rows. The same ciphertexts (a fresh random nonce each), made faster."""
        kid = self.active_encryption_kid
        seal, urandom = self.encryption_keys[kid].encrypt, os.urandom
        prefix, aad = ciphertext_prefix(kid), context.encode()

        def encrypt(plaintext: str) -> bytes:
            nonce = urandom(_NONCE_BYTES)
            return prefix + nonce + seal(nonce, plaintext.encode("utf-8"), aad)

        return encrypt

    def decrypt(self, token: bytes, context: str) -> str:
        try:
            version, kid_len = token[0], token[1]
            kid = token[2 : 2 + kid_len].decode("ascii")
            nonce = token[2 + kid_len : 2 + kid_len + _NONCE_BYTES]
            sealed = token[2 + kid_len + _NONCE_BYTES :]
        except (IndexError, UnicodeDecodeError) as exc:
            raise DecryptionError("ciphertext is malformed") from exc
        if len(nonce) != _NONCE_BYTES or len(sealed) < 16:
            raise DecryptionError("ciphertext is truncated")
        if version != _FORMAT_VERSION:
            raise DecryptionError(f"unknown ciphertext version {version}")
        key = self.encryption_keys.get(kid)
        if key is None:
            raise DecryptionError(f"encryption key {kid} is not loaded")
        try:
            return key.decrypt(nonce, sealed, context.encode()).decode("utf-8")
        except InvalidTag as exc:
            raise DecryptionError(f"ciphertext under key {kid} failed authentication") from exc

    @staticmethod
    def encryption_kid(token: bytes) -> str:
        return token[2 : 2 + token[1]].decode("ascii")

    # -- signatures -------------------------------------------------------------------

    def sign(self, message: bytes) -> tuple[str, bytes]:
        kid = self.active_signing_kid
        return kid, self.signing_keys[kid].sign(message)

    def public_keys(self) -> dict[str, bytes]:
        """Raw 32-byte Ed25519 public keys by kid, to publish for offline verification."""
        return {
            kid: key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            for kid, key in self.signing_keys.items()
        }


def ciphertext_prefix(kid: str) -> bytes:
    """How every ciphertext under ``kid`` begins: lets a query find the rows not yet
    encrypted under a key."""
    kid_bytes = kid.encode("ascii")
    return bytes([_FORMAT_VERSION, len(kid_bytes)]) + kid_bytes


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- the audit log's checkpoints -------------------------------------------------------

# One Ed25519 key that signs audit checkpoints (``registry audit checkpoint``). It is no
# purpose of the keyring: nothing the database holds depends on it, so it is made on
# first use, in production too, and never rotated; a verifier keeps its public key.
CHECKPOINT_KEY = Path("checkpoints") / "signing.pem"


def checkpoint_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The key that signs audit checkpoints, made (mode 600) when there is none yet."""
    path = Path(keys_dir) / CHECKPOINT_KEY
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            _write_secret(path, data)
        except FileExistsError:  # made at the same moment by another command: use it
            pass
    try:
        return _load_key(path, "receipts")
    except ValueError as exc:
        raise KeyFileError(
            _("{path} is not an Ed25519 private key: {reason}", path=path, reason=exc)
        ) from exc


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    """The 32 bytes of a signing key's public half."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# -- secrets of users and programs ---------------------------------------------------

# scrypt parameters: 2**15 x 8 costs 32 MiB and about 0.1 s a hash (OWASP's minimum is
# 2**17 with r=8, p=1 for interactive logins on servers; we take the cheaper setting the
# cryptography docs recommend, since passwords guard web logins behind a rate limit).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        password.encode()
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(salt=base64.b64decode(salt), length=32, n=int(n), r=int(r), p=int(p))
        kdf.verify(password.encode(), base64.b64decode(digest))
    except (ValueError, InvalidKey):
        return False
    return True


def new_api_token() -> str:
    """32 random bytes, URL-safe: shown once, stored only as ``token_digest``."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """A web session's id: 32 random bytes, sent as the cookie, stored only keyed-hashed."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    # A token has 256 bits of entropy, so a plain SHA-256 is enough to make a stolen
    # database useless for logging in; identity numbers never go through this.
    h = hashes.Hash(hashes.SHA256())
    h.update(token.encode("utf-8"))
    return h.finalize()


# How often, at most, a process looks whether the key files changed, and how often it
# tries again files that failed to load and have not changed since (seconds).
RELOAD_INTERVAL = 1.0
RETRY_FAILED_INTERVAL = 60.0
_clock = time.monotonic


class _KeyWatch:
    """When an app last looked at its key folders, and the last look that failed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.looked_at = float("-inf")
        self.failed_stamp = None
        self.failed_at = float("-inf")


def current_keyring() -> Keyring:
    """The keys of the running app: loaded by ``create_app``, and reloaded when the key
    files change (at most once every ``RELOAD_INTERVAL`` seconds a process looks), so that
    servers pick up the keys of a rotation without a restart.

    A reload that fails (a key unreadable, a folder moved away) keeps the keys in use and
    logs a warning; it is tried again when the files change, or a minute later.
    """
    extensions = current_app.extensions
    keyring = extensions["registry.keyring"]
    if keyring.keys_dir is None:
        return keyring
    watch = extensions.get("registry.keywatch") or extensions.setdefault(
        "registry.keywatch", _KeyWatch()
    )
    now = _clock()
    if now - watch.looked_at < RELOAD_INTERVAL:
        return keyring
    # One thread looks; the others go on with the keys in use rather than wait for it.
    if not watch.lock.acquire(blocking=False):
        return keyring
    try:
        watch.looked_at = now
        keyring = extensions["registry.keyring"]
        stamp = _files_stamp(keyring.keys_dir)
        if stamp == keyring.stamp:
            return keyring
        if stamp == watch.failed_stamp and now - watch.failed_at < RETRY_FAILED_INTERVAL:
            return keyring  # one warning a minute for a problem that stays
        try:
            fresh = Keyring.load(keyring.keys_dir)
        except (ConfigError, OSError) as exc:
            watch.failed_stamp, watch.failed_at = stamp, now
            # Names a file and what is wrong with it, never key material.
            log.warning(
                "the key files changed but cannot be loaded; keeping the keys in use: %s", exc
            )
            return keyring
        watch.failed_stamp = None
        extensions["registry.keyring"] = fresh
        log.info(
            "reloaded keys: blind index %s, encryption %s, receipts %s",
            ", ".join(sorted(fresh.blind_keys)),
            ", ".join(sorted(fresh.encryption_keys)),
            ", ".join(sorted(fresh.signing_keys)),
        )
        return fresh
    finally:
        watch.lock.release()


def sealed_identity(identity, name: str, number_context: str, name_context: str) -> dict:
    """The ``EncryptedIdentity`` columns of a row about ``identity`` (an
    ``IdentityNumber``): its blind index under the active key, the number and the name
    encrypted under the active key for the table's contexts."""
    keyring = current_keyring()
    return {
        "id_type": identity.id_type,
        "id_index": keyring.blind_index(identity.canonical),
        "id_index_kid": keyring.active_blind_kid,
        "id_number_enc": keyring.encrypt(identity.number, number_context),
        "name_enc": keyring.encrypt(name, name_context),
    }
