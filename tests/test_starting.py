"""The service's start: it listens while it recovers its state (a big log after an unclean stop), `/healthz`
answers, `/readyz` says `starting`, and an event is answered only once logged (held, or 503 with Retry-After)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from assistant import pg, store, upgrade
from assistant.cluster.move import move
from assistant.config import Config
from assistant.events import parse_event
from assistant.web import starting, stopping
from assistant.web.appkeys import STARTUP
from tests.helpers import (
    BACKENDS,
    ROOT,
    CallRecorder,
    answers,
    body_of,
    eventually,
    make_app,
    make_event,
    replace_config,
    serving,
)
from tests.pgcluster import Cluster
from tests.service import Service

# A restart that rebuilds tens of thousands of follow-up timers from the log, or derives the rows a stopped start left,
# is waited for this long: one rebuilding 60,000 took 27 s to ready alone at a load average of 19 (imports 4 s, the
# timers' read and replay 21 s), and past 60 s among four test processes at 20-22.
RESTART_S = 180


@pytest.fixture
def held_recovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The start's first read of the log, as it opens it (long on a big log after an unclean stop: its -wal file
    folded back), held until the event is set."""
    release = threading.Event()
    read = upgrade.underived

    def held(conn: sqlite3.Connection) -> tuple[int, int]:
        assert release.wait(60)
        return read(conn)

    monkeypatch.setattr(upgrade, "underived", held)
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


async def test_start_names_a_wal_file_to_fold_back_only_when_an_unclean_stop_left_one(
    config: Config, held_recovery: threading.Event
) -> None:
    # Every start's first step said "a -wal file left by an unclean stop is folded back", a clean one's too: its
    # operator went looking for the unclean stop.
    async def opening() -> str:
        with serving(make_app(config), config, before_stop=held_recovery.set) as served:
            async with aiohttp.ClientSession() as session:
                await eventually(lambda: answers(session, f"{served.url}/readyz", 503), timeout=30)
                _status, (body, _retry) = await status_and_body(session, "GET", f"{served.url}/readyz")
                held_recovery.set()
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
        held_recovery.clear()
        return str(body["message"])

    assert (await opening()) == "the service is starting (opening the log); retry later"
    # As an unclean stop leaves it: committed events in the -wal file, not folded back into the database.
    left = store.connect(config.location())
    try:
        left.execute("PRAGMA wal_autocheckpoint=0")
        with store.transaction(left):
            store.insert_event(left, parse_event(make_event(id="before-the-crash"), max_text_chars=5000))
        assert Path(f"{config.location()}-wal").stat().st_size > 0
        message = await opening()
    finally:
        left.close()
    assert "opening the log: folding back the" in message and "-wal file an unclean stop left" in message, message


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


def log_awaiting_replay(db: Path, events: int) -> None:
    """A log whose follow-up timers were never flushed: `events` agent and customer messages of 20,000
    conversations, just received, that the next start replays (a few seconds)."""
    conn = store.connect(db)
    upgrade.migrate(conn)
    now = int(time.time() * 1000)
    with store.transaction(conn):
        for n in range(events):
            raw = make_event(id=f"m{n}", conversation=f"c{n % 20_000}", sender=("customer", "agent")[n % 2],
                             agent="小美", text="亲，在的", ts=now - 60_000 + n % 1000)  # fmt: skip
            store.insert_event(conn, parse_event(raw, max_text_chars=5000))
    conn.close()


async def terminated_while_replaying(db: Path, events: int, stage: str = "replaying the events") -> tuple[Service, str]:
    """A service started on a log of `events` awaiting replay and sent SIGTERM once `/readyz` says it replays
    them (names `stage`): the service, stopped (exit 0 checked), and its log."""
    log_awaiting_replay(db, events)
    service = await Service(ROOT / "config.toml", db).start(timeout=60, listening=True)
    assert service.proc is not None
    try:
        async with aiohttp.ClientSession() as session:

            async def replaying() -> bool:
                async with session.get(f"{service.url}/readyz") as resp:
                    return resp.status == 503 and stage in (await resp.json())["message"]

            await eventually(replaying, timeout=60, interval=0.02)
        code = service.terminate(timeout=60)
    finally:
        service.stop()
    output = service.log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    return service, output


async def test_sigterm_during_the_start_stops_it_at_its_next_safe_point_and_exits_as_a_stop(tmp_path: Path) -> None:
    # Found: the signal handlers were set once the start was over: SIGTERM during the recovery killed the process
    # (no stop's line, the log not closed, a follow-up delivery the start had resumed cut short).
    db = tmp_path / "assistant.db"
    service, output = await terminated_while_replaying(db, 40_000)
    assert "stopping during the start" in output and "interaction log flushed and closed" in output, output
    assert not Path(f"{db}-wal").exists()  # closed as a stop closes it
    restarted = await Service(ROOT / "config.toml", db, port=service.port).start(timeout=RESTART_S)  # and goes on
    assert restarted.terminate() == 0


async def test_sigterm_during_the_starts_read_of_the_log_abandons_the_read(tmp_path: Path) -> None:
    # Found: the follow-ups' read of the events logged after their timers' last flush (3 s at 150,000 events on a
    # loaded 2-core machine) ran to its end before the stop began: a stop during the start took as long as the
    # read, where one after the start takes a fraction of a second. The read is abandoned; the next start does it.
    # It once failed: the SIGTERM came in the 14 ms between the step's start and its read's (no read to abandon);
    # `/readyz` says when the read is under way.
    db = tmp_path / "assistant.db"
    service, output = await terminated_while_replaying(db, 120_000, f"flush ({starting.READING})")
    assert "its read of the log is abandoned" in output and "rebuilt from the log" not in output, output
    assert "interaction log flushed and closed" in output and not Path(f"{db}-wal").exists(), output
    restarted = await Service(ROOT / "config.toml", db, port=service.port).start(timeout=RESTART_S)
    assert restarted.terminate() == 0
    assert "60000 rebuilt from the log" in restarted.log.read_text(encoding="utf-8", errors="replace")


def log_underived(db: store.Location, folder: Path, events: int) -> None:
    """A log of `events` messages and payments (one in ten) that an older release wrote after the migrations, the
    service's last stop unclean: names as sent (a zero-width space), no payments, no derived watermark."""
    lite = db if isinstance(db, Path) else folder / "older.db"
    conn = store.connect(lite)
    upgrade.migrate(conn)
    now = int(time.time() * 1000)
    raws = [
        make_event("order_paid", id=f"p{n}", conversation=f"c{n % 20_000}", order=f"o{n}", amount=9.9, ts=now)
        if n % 10 == 9 else make_event(id=f"m{n}", conversation=f"c{n % 20_000}", text="亲，在的", ts=now)
        for n in range(events)
    ]  # fmt: skip
    with store.transaction(conn):
        store.insert_events(conn, [(parse_event(raw, max_text_chars=5000), None) for raw in raws])
    conn.close()
    if isinstance(db, pg.Location):
        move(lite, db, lambda table, done, total: None)
    conn = store.connect(db)
    try:
        with store.transaction(conn):
            conn.execute("DELETE FROM derived_watermark")
            conn.execute("DELETE FROM payments")
            for table in ("events", "messages", "orders", "conversations"):
                conn.execute(f"UPDATE {table} SET customer = ? || customer", ("\u200b",))
    finally:
        conn.close()


def derived(db: store.Location) -> tuple[int, list[tuple[int, bool, bool]]]:
    """The derived watermark (0: none), and each event's number, whether its name is clean and, for a payment,
    whether it is in `payments` (a message: True)."""
    conn = store.connect(db)
    try:
        row = conn.execute("SELECT seq FROM derived_watermark WHERE id = 1").fetchone()
        found = conn.execute(
            "SELECT seq, customer NOT LIKE ?, type <> 'order_paid' OR seq IN (SELECT seq FROM payments)"
            " FROM events ORDER BY seq",
            ("\u200b%",),
        )
        return (int(row[0]) if row else 0), [(int(r[0]), bool(r[1]), bool(r[2])) for r in found]
    finally:
        conn.close()


@BACKENDS
async def test_sigterm_during_the_starts_derive_stops_it_and_the_next_start_derives_the_rest(
    db_path: store.Location, tmp_path: Path
) -> None:
    # Found: the start's derive of the rows an older release left (payments, clean names) ran to its end before a
    # SIGTERM was obeyed: 2.8 s at 150,000 events on SQLite, 10 to 15 s on PostgreSQL, /readyz saying "opening the
    # log" all along. It is a step of its own, named, that a stop ends, keeping the parts it committed whole.
    events = 60_000
    await asyncio.to_thread(log_underived, db_path, tmp_path, events)  # off the loop: PostgreSQL bounds waits on it
    service = await Service(ROOT / "config.toml", db_path, log_dir=tmp_path).start(timeout=60, listening=True)
    try:
        async with aiohttp.ClientSession() as session:

            async def deriving() -> bool:
                async with session.get(f"{service.url}/readyz") as resp:
                    message = (await resp.json()).get("message", "")
                    return resp.status == 503 and f"deriving the rows of the events 1..{events}" in message

            await eventually(deriving, timeout=60, interval=0.02)
        code = service.terminate(timeout=60)
    finally:
        service.stop()
    output = service.log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert "stopping during the start (deriving the rows" in output, output
    mark, rows = await asyncio.to_thread(derived, db_path)
    assert mark < events, output  # stopped before the end
    # Nothing half-written: the events up to the watermark have their rows, those after have none.
    assert all(clean and paid for seq, clean, paid in rows if seq <= mark), output
    assert not any(clean for seq, clean, _paid in rows if seq > mark), output
    assert not any(paid for seq, _clean, paid in rows if seq > mark and seq % 10 == 0), output  # the payments
    restarted = await Service(ROOT / "config.toml", db_path, port=service.port, log_dir=tmp_path).start(
        timeout=RESTART_S
    )
    assert restarted.terminate(timeout=60) == 0
    assert f"derived for events {mark + 1}..{events}" in restarted.log.read_text(encoding="utf-8", errors="replace")
    mark, rows = await asyncio.to_thread(derived, db_path)
    assert mark == events and all(clean and paid for _seq, clean, paid in rows)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_connection_drops_during_the_derive_reconnects_and_derives_the_rest(
    config: Config, db_path: pg.Location, tmp_path: Path, pg_cluster: Cluster
) -> None:
    # Found: PostgreSQL restarted while the start derived the rows of an unclean stop's events, and the service
    # exited 1 ("cannot open the database (the connection is closed)") where, once started, its writer reconnects.
    events = 30_000
    await asyncio.to_thread(log_underived, db_path, tmp_path, events)
    with serving(make_app(config), config) as served:
        async with aiohttp.ClientSession() as session:

            async def deriving() -> bool:
                try:
                    async with session.get(f"{served.url}/readyz") as resp:
                        return resp.status == 503 and "deriving the rows" in (await resp.json()).get("message", "")
                except aiohttp.ClientConnectionError:  # not listening yet
                    return False

            await eventually(deriving, timeout=60, interval=0.02)
            name = db_path.url.rsplit("/", 1)[1]
            admin = await psycopg.AsyncConnection.connect(
                pg_cluster.url("postgres"), password=pg_cluster.password, autocommit=True
            )
            async with admin:  # every connection of the database dropped, as a restart drops them
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=120)
            assert not served.stopped()
    mark, rows = await asyncio.to_thread(derived, db_path)
    assert mark == events and all(clean and paid for _seq, clean, paid in rows)


async def drop_every_connection(cluster: Cluster, db: pg.Location) -> None:
    """Every connection of `db` ended by the server, as its restart or a failover ends them."""
    admin = await psycopg.AsyncConnection.connect(cluster.url("postgres"), password=cluster.password, autocommit=True)
    async with admin:
        name = db.url.rsplit("/", 1)[1]
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def held_in(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> tuple[threading.Event, threading.Event]:
    """`owner.name` (a read of the start, in a thread), held once it is called: (reached, release)."""
    reached, release = threading.Event(), threading.Event()
    read = getattr(owner, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        assert release.wait(60)
        return read(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)
    return reached, release


async def ready_after_a_drop_in(
    config: Config,
    db: pg.Location,
    cluster: Cluster,
    reached: threading.Event,
    release: threading.Event,
    then: Callable[[], Awaitable[object]] | None = None,
) -> float:
    """A start held where `reached` is set, every connection of its database dropped there, then let go: the
    seconds from the drop to `/readyz` answering 200 (the service still running), `then` awaited after it."""
    with serving(make_app(config), config, before_stop=release.set) as served:
        async with aiohttp.ClientSession() as session:
            assert await asyncio.to_thread(reached.wait, 60)
            await drop_every_connection(cluster, db)
            dropped = time.monotonic()
            release.set()

            async def ready_or_ended() -> bool:
                return served.stopped() or await answers(session, f"{served.url}/readyz", 200)

            await eventually(ready_or_ended, timeout=120)
            assert not served.stopped()  # it exited 1: "cannot open the database (the connection is closed)"
            seconds = time.monotonic() - dropped
            if then is not None:
                await then()
            return seconds


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_connection_drops_during_the_followups_read_reconnects_and_replays(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: PostgreSQL restarted while the start read the events to replay for the follow-up timers, and the
    # service exited 1 where the derive before it reconnects.
    from assistant.followups import store as followup_store

    reached, release = held_in(monkeypatch, followup_store, "events_to_replay")
    seconds = await ready_after_a_drop_in(config, db_path, pg_cluster, reached, release)
    print(f"ready {seconds:.2f} s after the drop")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_connection_drops_during_the_quality_alerts_read_reconnects(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: PostgreSQL restarted while the start read the quality alerts to resume, and the service exited 1.
    from assistant.qa import store as qa_store

    reached, release = held_in(monkeypatch, qa_store, "armed_escalations")
    seconds = await ready_after_a_drop_in(config, db_path, pg_cluster, reached, release)
    print(f"ready {seconds:.2f} s after the drop")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize(("module", "application"), [("relay", "cs-assistant-journal"), ("reloads", "cs-assistant-reload-start")])  # fmt: skip
async def test_start_whose_postgresql_connection_drops_during_a_cluster_read_reconnects(
    config: Config,
    db_path: pg.Location,
    pg_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    application: str,
) -> None:
    # Found: PostgreSQL restarted while the start read where the live journal (relay) or the fleet reloads stood,
    # on a connection of their own, and the service exited 1 (psycopg's AdminShutdown).
    import importlib

    owner = importlib.import_module(f"assistant.cluster.{module}")
    reached, release = threading.Event(), threading.Event()
    opened = owner.connect

    async def held(location: pg.Location, name: str) -> psycopg.AsyncConnection[Any]:
        conn = await opened(location, name)
        if name == application and not reached.is_set():
            reached.set()
            assert await asyncio.to_thread(release.wait, 60)
        return conn

    monkeypatch.setattr(owner, "connect", held)
    seconds = await ready_after_a_drop_in(config, db_path, pg_cluster, reached, release)
    print(f"ready {seconds:.2f} s after the drop")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_stays_down_says_so_on_readyz_and_stops_on_sigterm(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.followups import store as followup_store

    reached, release = held_in(monkeypatch, followup_store, "events_to_replay")
    name = db_path.url.rsplit("/", 1)[1]
    admin = await psycopg.AsyncConnection.connect(
        pg_cluster.url("postgres"), password=pg_cluster.password, autocommit=True
    )
    async with admin:
        try:
            with serving(make_app(config), config, before_stop=release.set) as served:
                async with aiohttp.ClientSession() as session:
                    assert await asyncio.to_thread(reached.wait, 60)
                    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')  # down until let in
                    await drop_every_connection(pg_cluster, db_path)
                    release.set()

                    async def waiting() -> str:
                        status, (body, _retry) = await status_and_body(session, "GET", f"{served.url}/readyz")
                        message = str(body.get("message", ""))
                        return message if status == 503 and "connection was lost" in message else ""

                    message = await eventually(waiting, timeout=30)
                    assert "reloading the follow-up timers" in message and not served.stopped()
                    served.stop()
                    await eventually(served.stopped, timeout=20)  # not after the minute the start waits for it
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def log_stale_on_arrival(db: pg.Location) -> None:
    """A customer's message and the agent's reply of an hour ago, just received (a platform's backlog), their
    follow-up timers never flushed: the next start replays the reply and records it `stale`."""
    conn = store.connect(db)
    upgrade.migrate(conn)
    old = int(time.time() * 1000) - 3_600_000
    with store.transaction(conn):
        for n, sender in enumerate(("customer", "agent")):
            raw = make_event(id=f"s{n}", conversation="c1", sender=sender, agent="小美", text="亲，在的", ts=old + n)
            store.insert_event(conn, parse_event(raw, max_text_chars=5000))
    conn.close()


def stale_records(db: pg.Location) -> int:
    conn = store.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM followups WHERE state = 'stale'").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_connection_drops_while_it_writes_the_replays_stale_records_writes_them_once(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: PostgreSQL restarted while the start wrote the `stale` records of the messages its replay found too
    # late to arm; the records were lost (logged only), and the next flush of the timers took their events past.
    from assistant.followups import stale

    await asyncio.to_thread(log_stale_on_arrival, db_path)
    reached, release = held_in(monkeypatch, stale, "_write_each")

    async def recorded() -> None:
        await eventually(lambda: asyncio.to_thread(stale_records, db_path), timeout=30)

    seconds = await ready_after_a_drop_in(config, db_path, pg_cluster, reached, release, recorded)
    assert await asyncio.to_thread(stale_records, db_path) == 1
    print(f"ready {seconds:.2f} s after the drop")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_whose_postgresql_stays_down_past_a_minute_waits_for_it_and_serves_once_it_is_back(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: a server down longer than a minute during the start (a failover, a maintenance window) ended the start,
    # exit 1. The minute is made a second here (the name the start read it by, if any): the start waits past it.
    from assistant import app as app_module
    from assistant.followups import store as followup_store

    monkeypatch.setattr(app_module, "RECONNECT_WAIT_S", 1.0, raising=False)
    reached, release = held_in(monkeypatch, followup_store, "events_to_replay")
    with serving(make_app(config), config, before_stop=release.set) as served:
        async with aiohttp.ClientSession() as session:
            assert await asyncio.to_thread(reached.wait, 60)
            await asyncio.to_thread(pg_cluster.stop_server)
            try:
                release.set()

                async def waited(past_s: float) -> str:
                    status, (body, _retry) = await status_and_body(session, "GET", f"{served.url}/readyz")
                    message = str(body.get("message", ""))
                    found = re.search(r"waiting for it (\d+) s", message)
                    return message if status == 503 and found and int(found[1]) >= past_s else ""

                message = await eventually(lambda: waited(3), timeout=30)
                assert "reloading the follow-up timers" in message and "(cannot connect)" in message, message
                assert "127.0.0.1" not in message and str(pg_cluster.port) not in message  # open to anyone
                assert not served.stopped()
            finally:
                await asyncio.to_thread(pg_cluster.start_server)
            back = time.monotonic()
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            print(f"ready {time.monotonic() - back:.2f} s after the server was back")
            assert not served.stopped()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_on_a_postgresql_not_up_yet_waits_for_it_and_serves_once_it_is_up(
    config: Config, db_path: pg.Location, pg_cluster: Cluster
) -> None:
    # Found: a start before its server was up (the machine's boot, a failover) exited 1 at once ("cannot open the
    # database"); its supervisor's restarts then met the same, each a start of seconds.
    await asyncio.to_thread(pg_cluster.stop_server)
    try:
        with serving(make_app(config), config) as served:
            async with aiohttp.ClientSession() as session:

                async def waiting() -> str:
                    if served.stopped():
                        return "stopped"
                    try:
                        status, (body, _retry) = await status_and_body(session, "GET", f"{served.url}/readyz")
                    except aiohttp.ClientConnectionError:  # not listening yet
                        return ""
                    message = str(body.get("message", ""))
                    return message if status == 503 and "PostgreSQL cannot be reached" in message else ""

                message = await eventually(waiting, timeout=30)
                assert message.startswith("the service is starting (opening the log: "), message
                await asyncio.to_thread(pg_cluster.start_server)
                back = time.monotonic()
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
                print(f"ready {time.monotonic() - back:.2f} s after the server was up")
                assert not served.stopped()
    finally:
        if not (pg_cluster.data / "postmaster.pid").exists():
            await asyncio.to_thread(pg_cluster.start_server)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_sigterm_during_the_start_while_its_stale_records_wait_for_postgresql_stops_and_the_next_start_writes_them(
    config: Config, db_path: pg.Location, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: a SIGTERM at the end of the start's replay, while the replay's `stale` records waited for a server that
    # had gone away, waited up to a minute for it before the service stopped.
    from assistant.followups import stale
    from assistant.followups.service import FollowupService

    await asyncio.to_thread(log_stale_on_arrival, db_path)
    reached, release = held_in(monkeypatch, stale, "_write_each")
    go = threading.Event()
    replay = FollowupService._replay

    async def held_replay(self: FollowupService, *args: Any) -> tuple[int, int]:
        done = await replay(self, *args)
        assert await asyncio.to_thread(go.wait, 60)
        return done

    monkeypatch.setattr(FollowupService, "_replay", held_replay)
    app = make_app(config)

    def let_go() -> None:
        release.set()
        go.set()

    try:
        with serving(app, config, before_stop=let_go) as served:
            assert await asyncio.to_thread(reached.wait, 60)  # the records' batch, in the writer
            await asyncio.to_thread(pg_cluster.stop_server)
            release.set()  # the batch fails on the connection the server dropped; tried again while it is down
            served.stop()
            await eventually(lambda: app[STARTUP].stopping, timeout=10)
            asked = time.monotonic()
            go.set()  # the replay is over: the start stops at its next safe point
            await eventually(served.stopped, timeout=15)
            print(f"stopped {time.monotonic() - asked:.2f} s after the SIGTERM")
    finally:
        await asyncio.to_thread(pg_cluster.start_server)
    assert await asyncio.to_thread(stale_records, db_path) == 0  # not written: the next start replays their events
    monkeypatch.undo()
    with serving(make_app(config), config) as served:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=60)
            await eventually(lambda: asyncio.to_thread(stale_records, db_path), timeout=30)
    assert await asyncio.to_thread(stale_records, db_path) == 1
