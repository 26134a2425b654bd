"""The open-file limit: said at start when low; met, it is logged once a minute and `/readyz` says so."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from assistant.web.appkeys import FILES
from assistant.web.filelimit import RECENT_S, FileLimit, open_files
from tests.helpers import Ticks

Client = TestClient  # type: ignore[type-arg]


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "assistant.web.filelimit"]


def test_filelimit_meeting_the_limit_is_logged_and_shown_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    # At the limit, uvloop reset new connections without a word in the log, and /readyz said ready.
    ticks, used = Ticks(), {"n": 25}
    files = FileLimit(limit=64, count=lambda: used["n"], clock=ticks)
    files.sample(connections=0)
    assert files.problem() is None and lines(caplog) == []
    for connections in range(1, 40):  # a flood of connections, each counted as it is made
        files.connected(connections)
    assert files.problem() == "too many open files (limit 64): connections are refused"
    assert lines(caplog) == [
        "cannot accept connections: too many open files (56 in use, limit 64); new connections are reset until some close"
    ]  # one line, not one per connection
    used["n"] = 30
    ticks.now = 1
    files.sample(connections=5)
    assert files.problem() is not None  # said a while after, as a probe every few seconds would miss it
    ticks.now = RECENT_S + 1
    files.sample(connections=5)
    assert files.problem() is None
    assert lines(caplog)[-1].startswith("open files below the limit again: connections are accepted")


def test_filelimit_a_low_limit_is_said_at_start(caplog: pytest.LogCaptureFixture) -> None:
    FileLimit(limit=1024).warn_if_low()
    FileLimit(limit=65536).warn_if_low()
    assert len(lines(caplog)) == 1 and "the open-file limit is 1024" in lines(caplog)[0]


def test_filelimit_counts_this_process_descriptors() -> None:
    before = open_files()
    with open(__file__, encoding="utf-8"):
        assert before is not None and open_files() == before + 1


async def test_readyz_says_not_ready_at_the_open_file_limit(client: Client) -> None:
    files = client.app[FILES]
    assert (await client.get("/readyz")).status == 200
    files.full_at = files._clock()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "too many open files" in (await resp.json())["message"]
