"""Outbound HTTP for hooks: one client session per application, and how one delivery attempt went."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from aiohttp import hdrs

# aiohttp quotes the URL in some errors (one it cannot use, too many redirects); a robot's URL carries its key or
# access token in the query (WeCom `?key=`, DingTalk `?access_token=…&sign=`), and the error is logged, stored
# as the delivery's last error and shown to supervisors. Queries are left out of what an error says.
_QUERY = re.compile(r"\?[^\s'\"]*")


def redirected(resp: aiohttp.ClientResponse, peer: str) -> DeliveryResult:
    """A 3xx, not followed: a POST redirected (301, 302, 303) is retried as a GET, which delivers nothing and whose
    200 (a login page, the listing at the same URL) read as delivered; and the request's credentials in its headers
    went along, wherever it pointed. Worth retrying (a login page in front for a while); nothing was delivered."""
    location = _QUERY.sub("?…", resp.headers.get(hdrs.LOCATION, "")) or "nowhere (no Location)"
    error = f"HTTP {resp.status} from {peer}: redirected to {location}, not followed"
    return DeliveryResult(ok=False, retryable=True, status=resp.status, error=error)


def failure(exc: BaseException, peer: str) -> str:
    """What a failed attempt's exception says, any URL in it without its query."""
    return f"{type(exc).__name__} posting to {peer}: {_QUERY.sub('?…', str(exc))}"


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went: `ok`, or whether trying again may help (`retryable`)."""

    ok: bool
    retryable: bool = False
    status: int | None = None
    error: str = ""
    retry_after_s: float | None = None  # the receiver's `Retry-After` (a 429's or a 503's): no retry before it
    # The conversation no longer exists on the platform (Chatwoot: deleted, 404): nobody to follow up, a cancel.
    gone: bool = False
    # The conversation is resolved or snoozed on the platform (Chatwoot, looked at before posting): a cancel.
    closed: bool = False
    # Nothing was posted (a look before it could not be made): nothing to look for before another attempt.
    unposted: bool = False
    # The credential the receiver refused (its env var and whose it is; Chatwoot: a revoked or rotated token, 401):
    # the follow-up is kept and tried again, not failed, until it is too late to send.
    refused_credential: str | None = None
    # Whether the receiver took it cannot be told from its answer (a 2xx that is not its JSON): looked for before
    # another attempt, as after a timeout.
    unknown: bool = False

    @classmethod
    def sent(cls, status: int | None = None) -> DeliveryResult:
        return cls(ok=True, status=status)

    @classmethod
    def retry(cls, error: str, status: int | None = None) -> DeliveryResult:
        return cls(ok=False, retryable=True, status=status, error=error)

    @classmethod
    def reject(cls, error: str, status: int | None = None) -> DeliveryResult:
        return cls(ok=False, retryable=False, status=status, error=error)

    @classmethod
    def from_status(cls, status: int, error: str = "") -> DeliveryResult:
        """2xx sent; 5xx, 408 and 429 worth retrying; any other status final."""
        if 200 <= status < 300:
            return cls.sent(status)
        if status >= 500 or status in (408, 429):
            return cls.retry(error or f"HTTP {status}", status)
        return cls.reject(error or f"HTTP {status}", status)


def retry_after_s(value: str | None, now_s: float | None = None) -> float | None:
    """A `Retry-After` header's wait in seconds (delay-seconds or an HTTP date, RFC 9110); None if absent or
    unreadable, 0 for a date already past."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; one without a zone is not one
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


class Outbound:
    """The application's one aiohttp client session (connection reuse), opened on first use, closed on stop."""

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)  # the service's clock (a test's fake one)
        # Reads a receiver refused a credential (Chatwoot: a bot's token may not show a conversation), each with when
        # (epoch ms) and the looks made without it since: asked again only past bounds of both (hooks/chatwoot.py).
        self.refused_reads: dict[str, tuple[int, int]] = {}

    def session(self) -> aiohttp.ClientSession:
        """The shared session (created on the running loop the first time it is needed)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, peer: str
    ) -> DeliveryResult:
        """POST `body`; 2xx sent, 3xx (not followed), 5xx/408/429 and network errors retryable, other statuses
        final."""
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self.session().post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    return DeliveryResult.sent(resp.status)
                if 300 <= resp.status < 400:
                    return redirected(resp, peer)
                detail = (await resp.text(errors="replace"))[:200]
                result = DeliveryResult.from_status(resp.status, f"HTTP {resp.status} from {peer}: {detail}")
                return replace(result, retry_after_s=retry_after_s(resp.headers.get("Retry-After")))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.retry(failure(exc, peer))

    async def post_json(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, peer: str
    ) -> tuple[DeliveryResult, Any]:
        """POST `body` and decode a 2xx answer's JSON (robots answer errors as 200 + an error code in JSON).

        The result is (how the HTTP exchange went, the decoded body or None); a 2xx whose body is not
        JSON counts as a retryable failure of `unknown` outcome, a 3xx as in `post`.
        """
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self.session().post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if 300 <= resp.status < 400:
                    return redirected(resp, peer), None
                text = await resp.text(errors="replace")
                if not 200 <= resp.status < 300:
                    result = DeliveryResult.from_status(resp.status, f"HTTP {resp.status} from {peer}: {text[:200]}")
                    return replace(result, retry_after_s=retry_after_s(resp.headers.get("Retry-After"))), None
                try:
                    return DeliveryResult.sent(resp.status), json.loads(text)
                except ValueError:
                    kind = resp.content_type if hdrs.CONTENT_TYPE in resp.headers else "no Content-Type"
                    brief = " ".join(text.split())[:200]
                    error = f"{peer} answered {resp.status} with {kind}, not JSON: {brief}"
                    return DeliveryResult(False, True, resp.status, error, unknown=True), None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.retry(failure(exc, peer)), None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
