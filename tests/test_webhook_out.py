"""hooks/webhook_out.py against a real local HTTP server: body, signature, idempotency key, outcomes."""

from __future__ import annotations

import json

import pytest

from assistant.config import Config, ConfigError
from assistant.hookspecs import DeliveryResult
from assistant.outbound import Outbound, retry_after_s
from assistant.plugins import build_plugin_manager
from hooks import webhook_out
from tests.followup_harness import Receiver, outbound_config
from tests.service import free_port

CONVERSATION = {"shop": "shop1", "conversation": "conv1", "customer": "买家小王", "agent": "小美"}


async def deliver(config: Config, key: str = "fu-1", kind: str = "followup") -> DeliveryResult:
    http = Outbound()
    try:
        return await webhook_out.deliver_message(config, http, CONVERSATION, "亲，欢迎再来~", key, kind)
    finally:
        await http.close()


async def test_webhook_out_posts_signed_json_with_idempotency_key(config: Config, receiver: Receiver) -> None:
    result = await deliver(outbound_config(config, receiver.url), key="fu-abc", kind="payment_reminder")
    assert result.ok and result.status == 200
    [req] = receiver.requests
    assert req["json"] == {
        "conversation": "conv1", "shop": "shop1", "customer": "买家小王", "text": "亲，欢迎再来~",
        "kind": "payment_reminder", "idempotency_key": "fu-abc",
    }  # fmt: skip
    assert req["headers"]["Idempotency-Key"] == "fu-abc"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["verified"] is True
    assert json.loads(req["body"].decode()) == req["json"]


async def test_webhook_out_signature_fails_with_another_secret(config: Config) -> None:
    receiver = await Receiver(secret="not-the-secret").start()
    try:
        await deliver(outbound_config(config, receiver.url))
    finally:
        await receiver.close()
    assert receiver.requests[0]["verified"] is False


async def test_webhook_out_unsigned_without_secret(config: Config, receiver: Receiver) -> None:
    result = await deliver(outbound_config(config, receiver.url, secret=None))
    assert result.ok
    assert "X-Assistant-Signature" not in receiver.requests[0]["headers"]


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_webhook_out_server_errors_are_retryable(config: Config, status: int) -> None:
    receiver = await Receiver([status]).start()
    try:
        result = await deliver(outbound_config(config, receiver.url))
    finally:
        await receiver.close()
    assert (result.ok, result.retryable, result.status) == (False, True, status)


@pytest.mark.parametrize("status", [301, 302, 303, 307])
async def test_webhook_out_redirect_is_not_followed_and_is_retryable(config: Config, status: int) -> None:
    # A POST redirected with 301-303 was sent again as a GET (no body): its 200, a login page's, read as delivered;
    # and the request's headers went along to wherever the redirect pointed.
    receiver = await Receiver([status]).start()
    receiver.error_headers = {"Location": "http://127.0.0.1:9/login?session=s3cret"}
    url = receiver.url
    try:
        result = await deliver(outbound_config(config, receiver.url))
    finally:
        await receiver.close()
    assert (result.ok, result.retryable, result.status) == (False, True, status)
    assert result.error == f"HTTP {status} from {url}: redirected to http://127.0.0.1:9/login?…, not followed"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_webhook_out_client_errors_are_final(config: Config, status: int) -> None:
    receiver = await Receiver([status]).start()
    try:
        result = await deliver(outbound_config(config, receiver.url))
    finally:
        await receiver.close()
    assert (result.ok, result.retryable, result.status) == (False, False, status)
    assert f"HTTP {status}" in result.error


@pytest.mark.parametrize(
    ("header", "seconds"), [("240", 240.0), ("Wed, 21 Oct 2037 07:28:00 GMT", None), ("soon", None)]
)
async def test_webhook_out_reads_retry_after(config: Config, header: str, seconds: float | None) -> None:
    receiver = await Receiver([429]).start()
    receiver.error_headers = {"Retry-After": header}
    try:
        result = await deliver(outbound_config(config, receiver.url))
    finally:
        await receiver.close()
    assert result.retryable and result.status == 429
    if header[0].isalpha() and header != "soon":  # an HTTP date: the time left until then
        assert result.retry_after_s is not None and result.retry_after_s > 300 * 24 * 3600
    else:
        assert result.retry_after_s == seconds


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 2_000_000_000.0  # 2033-05-18 03:33:20 UTC
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s("Wed, 18 May 2033 03:37:20 GMT", now) == 240.0
    assert retry_after_s("Wed, 18 May 2033 03:00:00 GMT", now) == 0.0  # already past
    assert [retry_after_s(v, now) for v in (None, "", "-5", "1.5", "tomorrow")] == [None] * 5


async def test_webhook_out_connection_refused_is_retryable(config: Config) -> None:
    result = await deliver(outbound_config(config, f"http://127.0.0.1:{free_port()}/followups"))
    assert result.retryable and not result.ok and result.status is None


async def test_webhook_out_timeout_is_retryable(config: Config) -> None:
    receiver = await Receiver(delay_s=1.0).start()
    try:
        result = await deliver(outbound_config(config, receiver.url, timeout_s=0.2))
    finally:
        await receiver.close()
    assert result.retryable and not result.ok


async def test_webhook_out_startup_requires_url(config: Config) -> None:
    with pytest.raises(
        ConfigError, match=r"^\[hooks.webhook_out\] url：\[hooks\] enabled 中有 'webhook_out' 时必须设置$"
    ):
        webhook_out.on_startup(outbound_config(config, ""))
    with pytest.raises(
        ConfigError, match=r"^\[hooks.webhook_out\] url：应为 http\(s\) 网址，实际是 '127.0.0.1:18199/x'$"
    ):
        webhook_out.on_startup(outbound_config(config, "127.0.0.1:18199/x"))


def test_webhook_out_is_loaded_by_name(config: Config) -> None:
    pm = build_plugin_manager(outbound_config(config, "http://127.0.0.1:9/x"))
    assert pm.has_plugin("hooks.webhook_out")
