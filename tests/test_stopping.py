"""The stop (SIGTERM): what writes is finished, a read still running (a page's render) is answered 503
`shutting_down` at once and its thread is not waited for."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from assistant.config import Config
from assistant.web import reports
from tests.helpers import answers, eventually, make_app, serving


@pytest.fixture
def held_render(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The daily report's reading in its thread, held until the second event is set; the first says it began."""
    began, release = threading.Event(), threading.Event()
    load = reports._reports

    def held(*args: Any) -> Any:
        began.set()
        assert release.wait(60)
        return load(*args)

    monkeypatch.setattr(reports, "_reports", held)
    try:
        yield began, release
    finally:
        release.set()


async def answer(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, str | None]:
    async with session.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def test_stop_answers_a_page_still_rendering_503_and_does_not_wait_for_it(
    config: Config, held_render: tuple[threading.Event, threading.Event]
) -> None:
    # A supervisor's report rendering in a thread held the stop: aiohttp waited for its request (10 s) and then
    # the event loop's close for its thread, as long as the render took; the stop takes under a second.
    began, release = held_render
    with serving(make_app(config), config, before_stop=release.set) as served:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            page = asyncio.ensure_future(answer(session, "GET", f"{served.url}/reports/daily"))
            await eventually(began.is_set, timeout=10)
            served.stop()
            assert await page == (503, {"error": "shutting_down", "field": None, "message": "the service is stopping; retry later"}, "5")  # fmt: skip
            await eventually(served.stopped, timeout=30)
            assert not release.is_set()  # the render is still held: the stop did not wait for it


async def test_stop_says_in_the_log_that_it_began_before_it_waits_for_the_requests_in_flight(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # The log said nothing between the signal and the stop's last line (`interaction log flushed and closed`): a
    # stop that waited its 10 s for the requests in flight looked like a service that had not heard the signal.
    with caplog.at_level(logging.INFO):
        with serving(make_app(config), config) as served:
            async with aiohttp.ClientSession() as session:
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
    lines = [r.getMessage() for r in caplog.records]
    began = [n for n, line in enumerate(lines) if line.startswith("stopping: no new connections")]
    closed = [n for n, line in enumerate(lines) if line.startswith("interaction log flushed and closed")]
    assert began and closed and began[0] < closed[0], lines
    assert "(at most 10 s)" in lines[began[0]]
