"""HMAC-SHA256 signatures over `timestamp.body`, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

_MAX_STAMP_DIGITS = 12  # epoch seconds until the year 33658


class SignatureError(Exception):
    """A signature that is missing, malformed, stale or wrong; the message says which, `header` which of the two
    headers is at fault ("signature" or "timestamp")."""

    def __init__(self, message: str, header: str = "signature") -> None:
        super().__init__(message)
        self.header = header


def same_secret(presented: str, expected: str) -> bool:
    """Whether a token or signature a client sent equals the expected one, compared in constant time.

    `presented` is a header or query value as received: bytes that are not UTF-8 reach it as lone surrogates
    (aiohttp decodes headers with surrogateescape). They are compared as bytes too, and never match.
    """
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode())


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The header value `sha256=<hex>` for a body sent at `timestamp` (epoch seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    tolerance_s: float,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless `signature` signs `timestamp.body` and the timestamp is fresh."""
    if not signature:
        raise SignatureError("missing signature header")
    if not timestamp:
        raise SignatureError("missing timestamp header", "timestamp")
    stamp = timestamp.strip()
    # Digits as every platform writes them: int() also took "１２３", "1_795" and 400 digits, whose distance from
    # now overflowed a float (a 500).
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > _MAX_STAMP_DIGITS:
        raise SignatureError("timestamp is not epoch seconds", "timestamp")
    sent = int(stamp)
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        raise SignatureError(f"timestamp outside the {int(tolerance_s)} s tolerance", "timestamp")
    # Hex and the scheme's name are case-insensitive: .NET's Convert.ToHexString, Java's printHexBinary and
    # `xxd -u` write upper case, and each such platform was refused every event as if its secret were wrong.
    scheme, equals, digest = signature.strip().partition("=")
    if not equals or scheme.lower() != "sha256":
        raise SignatureError("signature must start with 'sha256='")
    expected = sign(secret, stamp, body).partition("=")[2]
    if not same_secret(digest.lower(), expected):
        raise SignatureError("signature does not match")
