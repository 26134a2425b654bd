"""One outbound POST for a hook, its outcome as a DeliveryResult (what the retry logic understands)."""

from __future__ import annotations

import asyncio

import aiohttp

from assistant.hookspecs import DeliveryResult


async def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, peer: str) -> DeliveryResult:
    """POST `body`; 2xx sent, 5xx/408/429 and network errors retryable, other statuses final."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            async with session.post(url, data=body, headers=headers) as resp:
                if 200 <= resp.status < 300:
                    return DeliveryResult.sent(resp.status)
                detail = (await resp.text(errors="replace"))[:200]
                return DeliveryResult.from_status(resp.status, f"HTTP {resp.status} from {peer}: {detail}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return DeliveryResult.retry(f"{type(exc).__name__} posting to {peer}: {exc}")
