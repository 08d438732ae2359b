"""Cost of encrypting and blind-indexing one identity number, against Fernet.

The roll import of millions of rows encrypts two fields and computes one blind index per
row; this prints what our scheme costs per row and its ratio to MultiFernet (the
cryptography library's high-level recipe) measured in the same run.

    .venv/bin/python bench/field_encryption.py [--rows 100000]
"""

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from registry import crypto
from registry.identity import parse_identity


def per_call_us(fn, rows: int) -> float:
    start = time.perf_counter()
    for _ in range(rows):
        fn()
    return (time.perf_counter() - start) / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as keys:
        crypto.generate_missing_keys(Path(keys))
        ring = crypto.Keyring.load(Path(keys))
    number = parse_identity("11010519491231002X")
    fernet = MultiFernet([Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())])
    plain = number.number.encode()

    baseline = per_call_us(lambda: fernet.encrypt(plain), rows)
    ours = per_call_us(lambda: ring.encrypt(number.number, "person.id_number"), rows)
    index = per_call_us(lambda: ring.blind_index(number.canonical), rows)
    token = ring.encrypt(number.number, "person.id_number")
    decrypt = per_call_us(lambda: ring.decrypt(token, "person.id_number"), rows)

    print(f"rows per measurement: {rows}")
    print(f"MultiFernet encrypt (baseline): {baseline:7.2f} µs per field")
    print(f"AES-256-GCM encrypt (ours):     {ours:7.2f} µs per field")
    print(f"ratio ours/baseline:            {ours / baseline:7.2f}")
    print(f"AES-256-GCM decrypt:            {decrypt:7.2f} µs per field")
    print(f"HMAC-SHA256 blind index:        {index:7.2f} µs per number")
    print(f"one import row (2 fields + index): {2 * ours + index:7.2f} µs")


if __name__ == "__main__":
    main()
