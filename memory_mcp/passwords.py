"""Password hashes for accounts: scrypt (memory-hard, in the standard library), each with its own salt."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from typing import Final

_LOG2_N: Final = 15  # 2**15 x 8 x 128 bytes = 32 MiB a hash: slow and costly to guess in bulk, quick enough to sign in
_R: Final = 8
_P: Final = 1
_LENGTH: Final = 32
MIN_LENGTH: Final = 8
"""The shortest password an account may have."""


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_LENGTH
    )


def hash_password(password: str) -> str:
    """`scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` (base64) of `password`; ValueError when it is too short."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"A password needs at least {MIN_LENGTH} characters.")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LOG2_N, _R, _P)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, digest)]
    return f"scrypt${_LOG2_N}${_R}${_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` is the one `stored` was made from (compared in constant time)."""
    try:
        kind, log2_n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def decoy() -> str:
    """A hash to check against when an account does not exist, so that a wrong name takes as long as a wrong
    password."""
    return hash_password(secrets.token_urlsafe(16))
