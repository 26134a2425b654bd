"""Outbound HTTP for hooks: one client session per application, and one POST as a DeliveryResult."""

from __future__ import annotations

import aiohttp

from assistant.hookspecs import DeliveryResult


class Outbound:
    """The application's one aiohttp client session (connection reuse), opened on first use, closed on stop."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session (created on the running loop the first time it is needed)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, peer: str
    ) -> DeliveryResult:
        """POST `body`; 2xx sent, 5xx/408/429 and network errors retryable, other statuses final."""
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with self.session().post(url, data=body, headers=headers, timeout=timeout) as resp:
                if 200 <= resp.status < 300:
                    return DeliveryResult.sent(resp.status)
                detail = (await resp.text(errors="replace"))[:200]
                return DeliveryResult.from_status(resp.status, f"HTTP {resp.status} from {peer}: {detail}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return DeliveryResult.retry(f"{type(exc).__name__} posting to {peer}: {exc}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
