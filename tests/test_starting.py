"""The service's start: it listens while it recovers its state (a big log after an unclean stop), `/healthz`
answers, `/readyz` says `starting`, and an event is answered only once logged (held, or 503 with Retry-After)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import aiohttp
import pytest

from assistant import upgrade
from assistant.config import Config
from assistant.web import starting, stopping
from assistant.web.appkeys import STARTUP
from tests.helpers import CallRecorder, answers, body_of, eventually, make_app, make_event, replace_config, serving


@pytest.fixture
def held_recovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The start's repair of the log (long on a big log after an unclean stop) held until the event is set."""
    release = threading.Event()
    repair = upgrade.repair_derived

    def held(conn: sqlite3.Connection) -> int:
        assert release.wait(60)
        return repair(conn)

    monkeypatch.setattr(upgrade, "repair_derived", held)
    try:
        yield release
    finally:
        release.set()


async def status_and_body(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, (await resp.json(), resp.headers.get("Retry-After"))


def logged(config: Config, event_id: str) -> int:
    with closing(sqlite3.connect(str(config.location()))) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE id = ?", (event_id,)).fetchone()[0])


async def test_start_answers_healthz_and_says_starting_while_it_recovers(
    config: Config, held_recovery: threading.Event
) -> None:
    # Nothing listened until the recovery was over (17 s on a day of 300,000 events whose timers were not
    # flushed): an orchestrator's liveness check failed meanwhile and the start was killed as hung.
    config = replace_config(config, "server", request_timeout_s=0.5)
    with serving(make_app(config), config, before_stop=held_recovery.set) as served:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: answers(session, f"{served.url}/healthz", 200), timeout=30)
            status, (body, retry) = await status_and_body(session, "GET", f"{served.url}/readyz")
            assert (status, body["error"], retry) == (503, "starting", "5")
            assert "opening the log" in body["message"]
            # An event that waited its request's time for the start is refused, not acknowledged unlogged.
            event = body_of(make_event(id="during-start"))
            status, (body, retry) = await status_and_body(session, "POST", f"{served.url}/v1/events", data=event)
            assert (status, body["error"], retry) == (503, "starting", "5")
            status, (body, _retry) = await status_and_body(
                session, "GET", f"{served.url}/v1/suggest", params={"text": "在吗"}
            )
            assert (status, body["error"]) == (503, "starting")
            async with session.get(f"{served.url}/panel", headers={"Accept": "text/html"}) as resp:
                assert (resp.status, resp.content_type, resp.headers.get("Retry-After")) == (503, "text/html", "5")
            held_recovery.set()
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            assert logged(config, "during-start") == 0
            assert (await status_and_body(session, "POST", f"{served.url}/v1/events", data=event))[0] == 200
    assert logged(config, "during-start") == 1


async def test_an_event_posted_during_the_start_waits_for_it_and_is_logged(
    config: Config, held_recovery: threading.Event
) -> None:
    # As the socket's queue held it while nothing listened (Chatwoot never sends a webhook again).
    app = make_app(config)
    with serving(app, config, before_stop=held_recovery.set) as served:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: answers(session, f"{served.url}/readyz", 503), timeout=30)
            event = body_of(make_event(id="held"))
            posted = asyncio.ensure_future(status_and_body(session, "POST", f"{served.url}/v1/events", data=event))
            await eventually(lambda: app[STARTUP].held == 1, timeout=10)
            assert not posted.done()
            held_recovery.set()
            status, (body, _retry) = await posted
            assert (status, body["accepted"]) == (200, True)
    assert logged(config, "held") == 1


async def test_start_over_events_pass_through_neither_the_start_gate_nor_the_stop(config: Config) -> None:
    # The start's gate and the stop's abandoning of reads ran on every request, a POST of events too: about 1.5 %
    # of the Python calls of the logging path, for a start long over and a stop that only concerns reads.
    recorder = CallRecorder(starting.__file__, stopping.__file__)
    threading.setprofile(recorder)
    try:
        with serving(make_app(config), config) as served:
            async with aiohttp.ClientSession() as session:
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            async with aiohttp.ClientSession() as session:  # a connection of its own, opened after the start
                recorder.on = True
                for n in range(3):
                    event = body_of(make_event(id=f"after-start-{n}"))
                    assert (await status_and_body(session, "POST", f"{served.url}/v1/events", data=event))[0] == 200
                posts, recorder.calls = recorder.calls, []
                assert (await status_and_body(session, "GET", f"{served.url}/v1/reports/daily"))[0] in (200, 401)
                recorder.on = False
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    assert posts == []
    assert set(recorder.calls) == {"_abandoned.<locals>.read"}  # a read still answers 503 when the service stops
