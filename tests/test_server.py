"""The server the service runs on (assistant/web/server.py): protocol errors in JSON, 405 with Allow, idle
connections closed, and an access log that shows no token."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from assistant.config import Config
from assistant.web.server import (
    GIL_SWITCH_INTERVAL_S,
    MAX_URL_BYTES,
    YOUNG_COLLECTION_THRESHOLD,
    Runner,
    freeze_heap,
    loggable,
    mask_tokens,
    refreeze_heap,
    run,
    server_options,
    thaw_heap,
)
from tests.helpers import body_of, eventually, exchange, expecting_body, make_app, make_event, replace_config
from tests.service import free_port


@pytest.fixture
async def served(config: Config) -> AsyncIterator[int]:
    """The app on the service's own runner (as `assistant serve` runs it), access log on, 1 s idle limit."""
    config = replace_config(config, "server", access_log=True, request_timeout_s=1.0)
    runner = Runner(make_app(config), **server_options(config))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
)
async def test_server_protocol_errors_answer_in_json(served: int, raw: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        status, headers, body = await exchange(served, raw)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["error"] and answer["message"] and "field" in answer
    # The client's mistake: at most one warning line, no traceback.
    logged = [r for r in caplog.records if r.name == "aiohttp.server" and r.levelno >= logging.WARNING]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in logged), caplog.text
    assert all(r.getMessage().startswith("bad request from 127.0.0.1: ") for r in logged), caplog.text


@pytest.mark.parametrize("bad", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"])
async def test_server_a_bad_chunk_after_the_headers_is_a_400_not_a_wait(
    served: int, bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # The bad chunk comes in a segment of its own, while the handler reads the body: aiohttp dropped that
    # body without failing it, and the handler waited out request_timeout_s to answer 408.
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[{\r\n"
    with caplog.at_level(logging.DEBUG):
        status, headers, body = await exchange(served, head, bad)
    assert status == 400, body
    assert json.loads(body)["error"] == "invalid_body" and "chunk" in json.loads(body)["message"]
    assert headers["connection"] == "close"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, object]]:
    """One answer read off a kept-alive connection: its status and JSON body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    return int(lines[0].split()[1]), json.loads(await reader.readexactly(length))


def _logged(config: Config, event_id: str) -> int:
    with closing(sqlite3.connect(str(config.location()))) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE id = ?", (event_id,)).fetchone()[0])


async def test_server_an_event_then_garbage_on_its_connection_is_logged_and_answered_200_before_the_400(
    served: int, config: Config
) -> None:
    # A client that sends a valid event and then, on the same kept-alive connection, bytes that are no HTTP
    # request: the event is logged and its 200 written first; the garbage alone gets the 400, and the connection
    # is closed. A platform's redelivery of the event is answered as a duplicate, not logged twice.
    event = body_of(make_event(id="before-garbage"))
    request = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(event), event)
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    try:
        writer.write(request)
        await writer.drain()
        status, body = await _answer(reader)
        assert (status, body["accepted"], body["duplicate"]) == (200, True, False), body
        assert _logged(config, "before-garbage") == 1  # logged before it was answered
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
        await writer.drain()
        status, body = await _answer(reader)
        assert (status, body["error"]) == (400, "bad_request"), body
        assert await reader.read() == b""  # closed after it: nothing more is read on it
    finally:
        writer.close()
    retry_status, _headers, retried = await exchange(served, request)
    assert (retry_status, json.loads(retried)["duplicate"]) == (200, True)
    assert _logged(config, "before-garbage") == 1


async def test_server_an_event_and_garbage_in_one_segment_is_logged_and_answered_200_before_the_400(
    served: int, config: Config
) -> None:
    # aiohttp's parser reported the segment's parse error alone, dropping the request it had parsed before it: the
    # connection's only answer was the 400, which the client read as its event's answer, and the event was not
    # logged (a platform that retries no 400 lost it).
    event = body_of(make_event(id="garbage-behind"))
    request = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(event), event)
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    try:
        writer.write(request + b"hello there\r\n\r\n")
        await writer.drain()
        status, body = await _answer(reader)
        assert (status, body["accepted"], body["duplicate"]) == (200, True, False), body
        status, body = await _answer(reader)
        assert (status, body["error"]) == (400, "bad_request"), body
        assert await reader.read() == b""
    finally:
        writer.close()
    assert _logged(config, "garbage-behind") == 1
    # Not a request line inside a request begun in an earlier segment: there it is a malformed header of that
    # request, and the 400 is the only answer (read again alone, the segment would hold a whole GET).
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"
    status, _headers, raw = await exchange(served, head, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nhello\r\n\r\n")
    assert status == 400 and json.loads(raw)["error"] == "bad_request", raw


async def test_server_a_body_declared_too_large_is_refused_before_it_is_sent(served: int) -> None:
    # `Expect: 100-continue` asks before sending the body: aiohttp said 100 Continue to any length, and a client
    # sent its 20 MB for a 413 after them.
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 20000000\r\n\r\n"
    status, headers, body = await exchange(served, head)
    assert status == 413, body
    assert json.loads(body)["error"] == "payload_too_large" and headers["connection"] == "close"


@pytest.mark.parametrize(
    ("request_line", "expect"),
    [("POST /v1/events", "foo"), ("POST /v1/chatwoot", "100-continue, foo"), ("GET /healthz", "foo")],
)
async def test_server_an_unknown_expect_is_a_json_417(served: int, request_line: str, expect: str) -> None:
    # aiohttp answered it in text/plain ("Unknown Expect: foo"), outside every middleware.
    raw = f"{request_line} HTTP/1.1\r\nHost: x\r\nExpect: {expect}\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    status, headers, body = await exchange(served, raw)
    assert status == 417
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {
        "error": "expectation_failed",
        "field": "Expect",
        "message": f"unknown Expect: {expect}; only 100-continue is understood",
    }


async def test_server_a_body_within_the_limit_is_asked_for_and_logged(served: int) -> None:
    event = body_of(make_event(id="expect-ok"))
    reader, writer = await expecting_body(served, len(event))
    try:
        writer.write(event)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer


async def test_server_on_stop_a_body_still_arriving_is_read_and_answered(config: Config) -> None:
    # aiohttp stopped reading every connection on stop: the rest of the body never came to the handler.
    runner = Runner(make_app(config), shutdown_timeout=4.0, **server_options(config))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    event = body_of(make_event(id="stop-halfway"))
    reader, writer = await expecting_body(port, len(event))
    try:
        writer.write(event[:20])
        await writer.drain()
        stopping = asyncio.create_task(runner.cleanup())
        await eventually(lambda: runner.server is None or runner.sites == set())  # the stop has begun
        writer.write(event[20:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 4)
        await stopping
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["id"] == "stop-halfway"


async def test_server_on_stop_a_body_that_never_ends_is_answered_503_within_the_shutdown(config: Config) -> None:
    # Its connection was dropped, unanswered, when the shutdown's time ran out.
    runner = Runner(make_app(config), shutdown_timeout=1.0, **server_options(config))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    reader, writer = await expecting_body(port, 100)
    try:
        writer.write(b"[{")
        await writer.drain()
        stopping = asyncio.create_task(runner.cleanup())
        answer = await asyncio.wait_for(reader.read(), 4)
        await stopping
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), answer
    assert b"\r\nRetry-After: " in head
    assert json.loads(body)["error"] == "shutting_down"  # before the shutdown's time ran out and dropped it


async def test_server_a_client_gone_mid_body_is_a_warning_not_an_error(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection("127.0.0.1", served)
        writer.write(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{")
        await writer.drain()
        await asyncio.sleep(0.05)  # the sender's pace: the handler is reading the body when the client leaves
        writer.close()
        await eventually(lambda: "the connection closed before the body ended" in caplog.text)
        access = await eventually(lambda: [r for r in caplog.records if r.name == "aiohttp.access"])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert " 400 " in access[0].getMessage()


async def test_server_bad_header_warning_leaves_out_what_was_sent(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\x01\r\n\r\n"
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        status, _, _ = await exchange(served, raw)
    assert status == 400
    assert [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"] == [
        "bad request from 127.0.0.1: Invalid header value char"
    ]
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    "raw",
    [  # a request line over 64 KiB or a header over 8190 bytes: aiohttp's message quoted their first 100 bytes
        b"GET /logs/daily?token=s3cret-token&q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token" + b"a" * 9000 + b"\r\n\r\n",
    ],
)
async def test_server_oversized_line_leaves_out_what_was_sent(
    served: int, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        status, _, body = await exchange(served, raw)
    assert 400 <= status < 500
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"]
    assert len(logged) == 1 and logged[0].startswith("bad request from 127.0.0.1: Got more than"), logged
    assert "s3cret" not in caplog.text
    assert "s3cret" not in body.decode() and "aaaa" not in body.decode()


@pytest.mark.parametrize("route", ["/v1/suggest?", "/v1/qa/check?side=agent&"])
async def test_server_a_query_of_5000_chinese_characters_fits_in_the_url(served: int, route: str) -> None:
    # `text` takes 5000 characters; aiohttp's 8190-byte request line held about 900 Chinese ones (9 bytes each).
    query = f"text={quote('好' * 5000)}&shop={quote('店' * 200)}&conversation={'c' * 200}&item={'9' * 200}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{served}{route}{query}") as resp:
            assert resp.status == 200, await resp.text()


async def test_server_a_url_beyond_the_limit_is_a_414_naming_the_url(served: int) -> None:
    # It was a 400 "Got more than 8190 bytes when reading", naming nothing.
    raw = b"GET /v1/suggest?text=" + b"%E5%A5%BD" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body = await exchange(served, raw)
    assert status == 414
    answer = json.loads(body)
    assert (answer["error"], answer["field"]) == ("uri_too_long", "url")
    assert f"longer than {MAX_URL_BYTES} bytes" in answer["message"] and "`text`" in answer["message"]


async def test_server_405_names_the_allowed_methods(served: int) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.delete(f"http://127.0.0.1:{served}/v1/events") as resp:
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST"
            assert (await resp.json())["error"] == "method_not_allowed"
        async with session.get(f"http://127.0.0.1:{served}/nowhere") as resp:
            assert resp.status == 404 and (await resp.json())["error"] == "not_found"


async def test_server_closes_idle_and_slow_connections(served: int) -> None:
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", served)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", served)
    try:
        slow_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers that never end
        await slow_writer.drain()
        # Both are closed by the server (EOF) after request_timeout_s; the test's own limit is far above it.
        assert await asyncio.wait_for(idle_reader.read(), 10) == b""
        assert await asyncio.wait_for(slow_reader.read(), 10) == b""
    finally:
        idle_writer.close()
        slow_writer.close()


async def test_server_access_log_masks_tokens(served: int, caplog: pytest.LogCaptureFixture, db_path: Path) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{served}/panel?agent=a1&token=s3cret-token"
            async with session.get(url) as resp:
                assert resp.status == 200
            async with session.post(f"http://127.0.0.1:{served}/v1/events", data=body_of(make_event())) as resp:
                assert resp.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2
    assert "s3cret-token" not in caplog.text
    assert "token=***" in lines[0] and '" 200 ' in lines[0]


async def test_server_access_log_shows_chat_text_as_its_length_only(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: the access log held every buyer's message and agent's draft sent to these routes, phone numbers and
    # addresses included, percent-encoded (which hides nothing), where every other output masks them.
    text = "收件人张三，电话13812345678，地址西湖区文三路478号"
    paths = [
        f"/v1/suggest?text={quote(text)}&shop=demo",
        f"/v1/qa/check?side=agent&text={quote(text)}",
        f"/v1/phrases/search?q={quote(text)}",
        f"/logs/daily?q={quote(text)}&date=2026-11-20",
    ]
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(f"http://127.0.0.1:{served}{path}") as resp:
                    await resp.read()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == len(paths)
    for line in lines:
        assert "13812345678" not in line and quote("13812345678") not in line
        assert "%E5%BC%A0" not in line.upper() and "张三" not in line  # the name, encoded or not
    assert "/v1/suggest?text=<32 chars>&shop=demo" in lines[0]
    assert "/v1/qa/check?side=agent&text=<32 chars>" in lines[1]
    assert "/v1/phrases/search?q=<32 chars>" in lines[2]
    assert "/logs/daily?q=<32 chars>&date=2026-11-20" in lines[3]


def test_loggable_hides_tokens_and_chat_text_and_keeps_the_rest() -> None:
    assert loggable("/v1/suggest?text=%E5%9C%A8%E5%90%97&item=42") == "/v1/suggest?text=<2 chars>&item=42"
    assert loggable("/panel?agent=a1&token=s3cret") == "/panel?agent=a1&token=***"
    assert loggable("/v1/suggest?te%78t=abc") == "/v1/suggest?te%78t=<3 chars>"  # the name as the service reads it
    assert loggable("/v1/suggest?text=") == "/v1/suggest?text="  # nothing to hide
    assert loggable("/r?context=keep&sq=keep") == "/r?context=keep&sq=keep"


def test_mask_tokens_hides_every_token_parameter() -> None:
    assert mask_tokens("/panel?token=abc&agent=x") == "/panel?token=***&agent=x"
    assert mask_tokens("/r?date=1&access_token=zz") == "/r?date=1&access_token=***"
    assert mask_tokens("/r?mytoken=keep") == "/r?mytoken=keep"
    # The service reads a parameter's name percent-decoded: %74oken= is token= and was logged in clear.
    assert mask_tokens("/logs/daily?date=1&%74oken=sup") == "/logs/daily?date=1&%74oken=***"
    assert mask_tokens("GET /r?tok%65n=sup HTTP/1.1") == "GET /r?tok%65n=*** HTTP/1.1"
    assert mask_tokens("/r?q=token=keep") == "/r?q=token=keep"  # a search for the word, not the parameter


PYTHON_SWITCH_INTERVAL_S = 0.005  # sys.getswitchinterval() in a process that never set it


async def test_run_freezes_the_heap_collects_the_young_less_often_and_hands_the_gil_over_sooner(
    config: Config,
) -> None:
    when_started: list[tuple[int, tuple[int, int, int], float]] = []
    stop = asyncio.Event()
    before = gc.get_threshold()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(PYTHON_SWITCH_INTERVAL_S)

    def started() -> None:
        when_started.append((gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval()))
        stop.set()

    async def until_started() -> None:
        await stop.wait()

    try:
        await run(make_app(config), config, host="127.0.0.1", port=free_port(), started=started, stop=until_started)
    finally:
        thaw_heap()  # the test's process goes on as before
        gc.set_threshold(*before)
        sys.setswitchinterval(interval)
    [(frozen, thresholds, switch)] = when_started
    assert frozen > 0
    assert thresholds == (YOUNG_COLLECTION_THRESHOLD, before[1], before[2])
    assert YOUNG_COLLECTION_THRESHOLD > before[0]
    assert switch == pytest.approx(GIL_SWITCH_INTERVAL_S) and GIL_SWITCH_INTERVAL_S < PYTHON_SWITCH_INTERVAL_S


def test_refreeze_heap_freezes_the_new_library_without_collecting_the_heap() -> None:
    # It unfroze the heap and collected all of it, the service's conversations included, to free the replaced
    # library: 0.5-1.2 s with every request waiting. The replaced library is released instead (Matcher.release).
    # What this thread does only: other tests' threads may still free objects, frozen or not, meanwhile.
    collected: list[int] = []
    here = threading.get_ident()

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and threading.get_ident() == here:
            collected.append(info["generation"])

    thresholds = gc.get_threshold()
    freeze_heap()
    gc.disable()
    gc.callbacks.append(record)
    try:
        new = [[n] for n in range(100)]  # a new library's objects
        assert refreeze_heap()
        collectable = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not any(id(o) in collectable for o in new)  # frozen: in no generation the collector walks
        assert collected == []
    finally:
        gc.callbacks.remove(record)
        gc.enable()
        thaw_heap()
        gc.set_threshold(*thresholds)


def test_refreeze_heap_leaves_a_process_that_never_froze_alone() -> None:
    thaw_heap()
    refreeze_heap()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("head", "field"),
    [
        (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "Content-Length"),
        (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}", "Content-Length"),
        (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", "Content-Length"),
        (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}", "Transfer-Encoding"),
        ("GET /v1/suggest?text=在吗 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "url"),
    ],
)  # fmt: skip
async def test_server_a_request_the_http_parser_refuses_names_its_header(served: int, head: bytes, field: str) -> None:
    status, _, body = await exchange(served, head)
    answer = json.loads(body)
    assert status == 400 and answer["field"] == field, answer
