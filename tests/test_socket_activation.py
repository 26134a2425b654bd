"""systemd socket activation: the listening socket outlives the service, so what a platform sends while the
service restarts waits in its queue and is answered, where a refused connection lost it (Chatwoot never sends a
refused webhook again)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.helpers import ROOT, body_of, eventually, make_event

# As systemd's exec does: the socket at descriptor 3, LISTEN_FDS=1 and LISTEN_PID naming the process that then
# runs the service (execv keeps the pid).
LAUNCH = """
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def activated(listener: socket.socket, db: Path) -> subprocess.Popen[str]:
    """`assistant serve` as systemd starts a socket-activated unit."""
    fd = listener.fileno()
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(fd), "-m", "assistant", "serve",
         "--config", str(ROOT / "config.toml"), "--db", str(db), "--port", "1"],
        cwd=ROOT, pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def logged(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM events")}


def post(event_id: str) -> bytes:
    body = body_of(make_event(id=event_id, text="这件有现货吗"))
    head = f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def sent(port: int, event_id: str) -> Connection:
    """An event written on a connection the kernel accepted into the socket's queue, no process accepting yet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post(event_id))
    await writer.drain()
    return reader, writer


async def status_of(connection: Connection) -> int:
    reader, writer = connection
    try:
        answer = await asyncio.wait_for(reader.read(), 90)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1])


async def test_events_sent_before_the_start_and_during_a_restart_wait_and_are_logged(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        port = listener.getsockname()[1]
        # Sent before any service runs: without an activated socket, "connection refused" and the event lost.
        early = await sent(port, "before-start")
        first = activated(listener, db)
        try:
            assert await status_of(early) == 200
        finally:
            first.terminate()
            _out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        # The service is down; the socket (systemd's) is not: the next event waits for the next start.
        during = await sent(port, "during-restart")
        second = activated(listener, db)
        try:
            assert await status_of(during) == 200
            await eventually(lambda: logged(db) == {"before-start", "during-restart"}, timeout=10)
        finally:
            second.terminate()
            out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert f"http://127.0.0.1:{port}" in out  # the banner names the socket's address, not --port 1


def test_a_descriptor_that_is_no_stream_socket_is_refused_in_the_users_language(tmp_path: Path) -> None:
    # A UDP socket (or a file) at descriptor 3 said "…not a listening stream socket" in English inside a Chinese line.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        service = activated(udp, tmp_path / "assistant.db")
        _out, err = service.communicate(timeout=120)
    assert service.returncode == 1
    assert "assistant：systemd 传来的套接字无法使用：描述符 3 不是监听中的 TCP 或 Unix 流式套接字" in err, err
