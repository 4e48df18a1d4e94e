"""Password hashing for operator passwords (argon2id through argon2-cffi).

Verifying costs tens of milliseconds by design; callers on the event loop
should run `verify_password` in an executor.
"""

from __future__ import annotations

import re

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

# One hasher with the library's recommended parameters; new hashes follow
# whatever the installed argon2-cffi considers current.
_hasher = argon2.PasswordHasher()

# Unpadded standard base64, as argon2 encodes salt and digest.
_B64 = re.compile(r"[A-Za-z0-9+/]+")


def hash_password(pw: str) -> str:
    """Return an encoded argon2id hash (``$argon2id$v=19$...``) of `pw`."""
    return _hasher.hash(pw)


def verify_password(hash: str, pw: str) -> bool:
    """Tell whether `pw` matches `hash`; False on mismatch or a malformed hash."""
    try:
        return _hasher.verify(hash, pw)
    except (VerificationError, InvalidHashError):
        return False


def is_argon2_hash(hash: str) -> bool:
    """Tell whether `hash` is a well-formed encoded argon2 hash."""
    # Five parts for argon2 1.0 hashes (no v=), six otherwise. extract_parameters
    # accepts an empty salt or digest, but a hash cut short when pasted should fail
    # here, at load time, not silently never match at OPER time.
    parts = hash.split("$")
    if not hash.startswith("$argon2") or len(parts) not in (5, 6):
        return False
    if not all(_B64.fullmatch(p) for p in parts[-2:]):
        return False
    try:
        argon2.extract_parameters(hash)
    except InvalidHashError:
        return False
    return True
