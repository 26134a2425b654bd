"""HMAC-SHA256 signatures over `timestamp.body`, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time


class SignatureError(Exception):
    """A signature that is missing, malformed, stale or wrong; the message says which."""


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
        raise SignatureError("missing timestamp header")
    try:
        sent = int(timestamp.strip())
    except ValueError:
        raise SignatureError("timestamp is not epoch seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        raise SignatureError(f"timestamp outside the {int(tolerance_s)} s tolerance")
    # Hex and the scheme's name are case-insensitive: .NET's Convert.ToHexString, Java's printHexBinary and
    # `xxd -u` write upper case, and each such platform was refused every event as if its secret were wrong.
    scheme, equals, digest = signature.strip().partition("=")
    if not equals or scheme.lower() != "sha256":
        raise SignatureError("signature must start with 'sha256='")
    expected = sign(secret, timestamp.strip(), body).partition("=")[2]
    if not same_secret(digest.lower(), expected):
        raise SignatureError("signature does not match")
