import base64
import hashlib
import stat

import pytest

from registry import crypto
from registry.identity import parse_identity

NUMBER = "11010519491231002X"


@pytest.fixture
def keys_dir(tmp_path):
    crypto.generate_missing_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_generated_key_files_are_private(keys_dir):
    files = [p for p in keys_dir.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} == set(crypto.PURPOSES)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


def test_generate_missing_keys_keeps_existing(keys_dir):
    before = sorted(p.read_bytes() for p in keys_dir.rglob("*.*"))
    assert crypto.generate_missing_keys(keys_dir) == []
    assert sorted(p.read_bytes() for p in keys_dir.rglob("*.*")) == before


def test_missing_keys_are_named(tmp_path):
    crypto.generate_key(tmp_path, "blind_index")
    with pytest.raises(crypto.KeyFileError, match="no encryption, receipts key"):
        crypto.Keyring.load(tmp_path)


@pytest.mark.parametrize(
    ("purpose", "name", "content", "message"),
    [
        (
            "encryption",
            "20991231T235959000000Z-abcdef.key",
            base64.b64encode(bytes(16)),
            "16 bytes instead of 32",
        ),
        (
            "blind_index",
            "20991231T235959000000Z-abcdef.key",
            b"not base64!",
            "unreadable blind_index key",
        ),
        (
            "receipts",
            "20991231T235959000000Z-abcdef.pem",
            b"-----BEGIN NONSENSE-----",
            "unreadable receipts key",
        ),
        ("encryption", "zz.key", base64.b64encode(bytes(32)), "not a key file name"),
    ],
)
def test_malformed_key_files_are_refused_not_skipped(keys_dir, purpose, name, content, message):
    (keys_dir / purpose / name).write_bytes(content)
    (keys_dir / purpose / name).chmod(0o600)
    with pytest.raises(crypto.KeyFileError, match=message) as info:
        crypto.Keyring.load(keys_dir)
    assert name in str(info.value)


def test_keys_others_may_read_are_refused(keys_dir):
    key = next((keys_dir / "encryption").iterdir())
    key.chmod(0o644)
    with pytest.raises(crypto.KeyFileError) as info:
        crypto.Keyring.load(keys_dir)
    assert f"(mode 644); fix it with: chmod 600 {key}" in str(info.value)


def test_blind_index_is_keyed(keys_dir, tmp_path):
    canonical = parse_identity(NUMBER).canonical
    ring = crypto.Keyring.load(keys_dir)
    other = tmp_path / "other"
    crypto.generate_missing_keys(other)
    assert ring.blind_index(canonical) == crypto.Keyring.load(keys_dir).blind_index(canonical)
    assert ring.blind_index(canonical) != crypto.Keyring.load(other).blind_index(canonical)
    assert len(ring.blind_index(canonical)) == 32


def test_blind_index_is_the_same_for_every_typed_form(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    forms = [
        NUMBER,
        NUMBER.lower(),
        "１１０１０５ １９４９１２３１ ００２ｘ",
        "110105-19491231-002X",
        "110105491231002",
    ]
    assert len({ring.blind_index(parse_identity(form).canonical) for form in forms}) == 1


def test_encryption_round_trip_and_context_binding(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    token = ring.encrypt("张三", "person.name")
    assert "张三".encode() not in token
    assert ring.decrypt(token, "person.name") == "张三"
    assert ring.encrypt("张三", "person.name") != token  # fresh nonce every time
    with pytest.raises(crypto.DecryptionError, match="failed authentication"):
        ring.decrypt(token, "person.id_number")


def test_tampered_ciphertext_is_refused(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    token = bytearray(ring.encrypt(NUMBER, "person.id_number"))
    token[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        ring.decrypt(bytes(token), "person.id_number")


def test_old_keys_still_decrypt_after_a_new_key(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    token = ring.encrypt(NUMBER, "ban.id_number")
    old_kid = ring.active_encryption_kid
    new_kid = crypto.generate_key(keys_dir, "encryption")
    rotated = crypto.Keyring.load(keys_dir)
    assert rotated.active_encryption_kid == new_kid != old_kid
    assert rotated.decrypt(token, "ban.id_number") == NUMBER
    assert crypto.Keyring.encryption_kid(rotated.encrypt(NUMBER, "ban.id_number")) == new_kid


def test_truncated_ciphertext_is_refused(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    token = ring.encrypt(NUMBER, "x")
    for cut in (1, 2, 10, len(token) - 20, len(token) - 1):
        with pytest.raises(crypto.DecryptionError):
            ring.decrypt(token[:cut], "x")


def test_unknown_key_id_is_refused(keys_dir, tmp_path):
    token = crypto.Keyring.load(keys_dir).encrypt(NUMBER, "x")
    other = tmp_path / "other"
    crypto.generate_missing_keys(other)
    with pytest.raises(crypto.DecryptionError, match="is not loaded"):
        crypto.Keyring.load(other).decrypt(token, "x")


def test_signatures_verify_with_the_public_key_only(keys_dir):
    ring = crypto.Keyring.load(keys_dir)
    kid, signature = ring.sign(b"check 1 clear")
    public = ring.public_keys()[kid]
    assert crypto.verify_signature(public, b"check 1 clear", signature)
    assert not crypto.verify_signature(public, b"check 1 barred", signature)
    assert not crypto.verify_signature(public, b"check 1 clear", bytes(64))


def test_passwords(keys_dir):
    stored = crypto.hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert crypto.verify_password("correct horse battery", stored)
    assert not crypto.verify_password("correct horse batterY", stored)
    assert not crypto.verify_password("x", "not a hash")
    assert crypto.hash_password("correct horse battery") != stored  # salted


def test_api_tokens_are_random_and_stored_as_digests():
    tokens = {crypto.new_api_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert crypto.token_digest(token) == hashlib.sha256(token.encode()).digest()
