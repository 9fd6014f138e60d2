"""TOTP second factor (RFC 6238 via pyotp) and recovery codes: pure, the clock passed in.

A code is accepted for its own 30-second step and one step either side
(`valid_window=1`, for clocks a little apart), and only for a step later than the
last accepted one: a code seen over someone's shoulder cannot be used again.
The enrolment QR code is SVG drawn here (segno), so no third party sees the secret.
Recovery codes are 80 random bits each: a fast hash (SHA-256) is enough, as for API
tokens; each is good once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import segno

__all__ = [
    "ISSUER",
    "RECOVERY_CODES",
    "check_recovery_code",
    "hash_recovery_code",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "verify_code",
]

ISSUER = "HomeVitals"
RECOVERY_CODES = 10
STEP_SECONDS = 30
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    """A new base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline <svg> element (no XML declaration)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"))


def verify_code(secret: str, code: str, *, now: float, last_step: int | None) -> int | None:
    """The time step `code` belongs to, or None when it is wrong or was already used.

    Args:
        secret: the account's base32 secret.
        code: what the user typed (spaces ignored).
        now: epoch seconds.
        last_step: the step of the last accepted code, if any.
    """
    digits = code.replace(" ", "").strip()
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 16 letters and digits (4 groups of 4), each good once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def hash_recovery_code(code: str) -> str:
    """The stored form of a recovery code (dashes, spaces and case do not matter)."""
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def check_recovery_code(hashes: list[str], code: str) -> list[str] | None:
    """The hashes left once `code` is used, or None when it matches none of them."""
    if len(_normalise(code)) != 16:
        return None
    wanted = hash_recovery_code(code)
    matched = [h for h in hashes if hmac.compare_digest(h, wanted)]
    if not matched:
        return None
    return [h for h in hashes if h != matched[0]]
