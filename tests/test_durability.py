"""The real service as a subprocess: SIGKILL mid-stream loses no acknowledged event; SIGTERM flushes."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from assistant import store
from tests.helpers import BACKENDS, ROOT, body_of, eventually, expecting_body, make_event
from tests.service import Service

pytestmark = pytest.mark.slow


async def _send_until_killed(service: Service, events: list[dict[str, object]], kill_after: int) -> set[str]:
    acked: set[str] = set()
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for e in events:
        queue.put_nowait(e)
    killed = asyncio.Event()

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty() and not killed.is_set():
            event = queue.get_nowait()
            try:
                async with session.post(f"{service.url}/v1/events", data=body_of(event)) as resp:
                    if resp.status == 200:
                        body = await resp.json()
                        if body["accepted"]:
                            acked.add(str(event["id"]))
            except (TimeoutError, aiohttp.ClientError):
                return
            if len(acked) >= kill_after and not killed.is_set():
                killed.set()
                service.kill()

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(64)))
    return acked


@BACKENDS
async def test_sigkill_loses_no_acknowledged_event(tmp_path: Path, db_path: store.Location) -> None:
    db = db_path
    service = await Service(ROOT / "config.toml", db, log_dir=tmp_path).start()
    events = [
        make_event(id=f"crash-{i}", conversation=f"c{i % 97}", text=f"第{i}条消息 什么时候发货") for i in range(3000)
    ]
    try:
        acked = await _send_until_killed(service, events, kill_after=1500)
    finally:
        service.stop()
    assert len(acked) >= 1500
    restarted = await Service(ROOT / "config.toml", db, port=service.port, log_dir=tmp_path).start()
    conn = store.connect(db)
    try:
        logged = [row[0] for row in conn.execute("SELECT id FROM events")]
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()
        restarted.stop()
    assert len(logged) == len(set(logged)) == messages
    missing = acked - set(logged)
    assert not missing, f"{len(missing)} acknowledged events lost"


async def test_sigterm_flushes_and_exits_zero(tmp_path: Path) -> None:
    db = tmp_path / "term.db"
    service = await Service(ROOT / "config.toml", db).start()
    try:
        async with aiohttp.ClientSession() as session:
            events = [make_event(id=f"term-{i}") for i in range(200)]
            statuses = await asyncio.gather(
                *(session.post(f"{service.url}/v1/events", data=body_of(e)) for e in events)
            )
            assert all(r.status == 200 for r in statuses)
        code = service.terminate()
    finally:
        service.stop()
    assert code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 200


async def test_sighup_reloads_the_phrase_library(tmp_path: Path) -> None:
    library = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", library)
    config = tmp_path / "config.toml"
    config.write_text(f'[phrases]\npath = "{library}"\n', encoding="utf-8")
    service = await Service(config, tmp_path / "hup.db").start()
    try:
        (library / "zz_new.toml").write_text(
            'group = "测试"\n[[phrase]]\nid = "gift.hup_test"\nintent = "gift"\ncode = "zzhup"\n'
            'text = "亲，这款下单就送精美小礼品一份哦~"\ntriggers = ["斑马小礼品测试"]\n',
            encoding="utf-8",
        )
        assert service.proc is not None
        service.proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession() as session:

            async def reloaded() -> bool:
                async with session.get(f"{service.url}/v1/suggest", params={"text": "斑马小礼品测试"}) as resp:
                    body = await resp.json()
                return bool(body["suggestions"]) and body["suggestions"][0]["phrase_id"] == "gift.hup_test"

            await eventually(reloaded, timeout=30)  # SIGHUP reloads the library (its worker's process too)
        assert service.proc.poll() is None, "the service must keep running"
    finally:
        service.stop()


async def test_sigterm_answers_a_request_whose_body_is_still_arriving(tmp_path: Path) -> None:
    # The body's first bytes are in, the rest comes after SIGTERM: the rest was no longer read, the request
    # hung for the whole shutdown and its connection was dropped with no answer, its event never stored.
    db = tmp_path / "halfway.db"
    service = await Service(ROOT / "config.toml", db).start()
    event = body_of(make_event(id="halfway"))
    # "100 Continue" comes from the handler: the request is in hand before the stop begins.
    reader, writer = await expecting_body(service.port, len(event))
    try:
        writer.write(event[:40])
        await writer.drain()
        assert service.proc is not None
        service.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: "stopping: 1 request(s)" in service.log.read_text(errors="replace"), timeout=9)
        writer.write(event[40:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=9)
        code = service.proc.wait(20)
    finally:
        writer.close()
        service.stop()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE id = 'halfway'").fetchone()[0] == 1
