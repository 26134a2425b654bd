"""A contact merge in Chatwoot (ContactMergeAction): one buyer afterwards, in the KPIs and for `assistant buyer`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from assistant import pg, store
from assistant.cli import main
from assistant.config import Config, load_config
from tests.fake_chatwoot import FakeChatwoot
from tests.helpers import BACKENDS, ROOT, make_app
from tests.pgcluster import PASSWORD_ENV
from tests.test_chatwoot_e2e import CONVERSATIONS, SECRET, TOKEN, deliver, fixture, start_service
from tests.test_live import open_stream

pytestmark = pytest.mark.slow

MERGEE, BASE = "501", "777"  # the contact merged away (the widget's), and the one it is merged into


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    fake = await FakeChatwoot(TOKEN, conversations=CONVERSATIONS, webhook_secret=SECRET).start()
    yield fake
    await fake.close()


def of_base(name: str, conversation: str, message_id: int) -> dict[str, Any]:
    """A message after the merge: Chatwoot moved the conversation to the base contact, who writes as himself."""
    payload = fixture(name, conversation, message_id)
    payload["conversation"]["meta"]["sender"]["id"] = int(BASE)
    if payload["message_type"] == "incoming":
        payload["sender"]["id"] = int(BASE)
    return payload


def buyer(tmp_path: Path, db: Path, *args: str) -> list[str]:
    return ["buyer", *args, "--config", str(tmp_path / "config.toml"), "--db", str(db)]


async def test_chatwoot_contact_merge_leaves_one_buyer(
    tmp_path: Path, chatwoot: FakeChatwoot, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: after a contact merge, the conversation's next messages came under the base contact's id and the
    # earlier ones stayed under the merged one's: 咨询 counted two buyers, and `buyer find` by either id found half.
    service = await start_service(tmp_path, chatwoot, "enabled = false")
    try:
        async with aiohttp.ClientSession() as session:
            await deliver(session, service, fixture("contact_message", "42", 9601))
            await deliver(session, service, fixture("agent_reply", "42", 9602))
            await deliver(session, service, fixture("contact_message", "43", 9603))  # another conversation of his
            # An agent merges contact 501 into 777 (the customer's known contact): the buyer writes again.
            await deliver(session, service, of_base("contact_message", "42", 9604))
            await deliver(session, service, of_base("agent_reply", "42", 9605))
            # A delivery Chatwoot built before the merge, arriving late, names the contact merged away.
            await deliver(session, service, fixture("contact_message", "43", 9606))
    finally:
        service.stop()
    with sqlite3.connect(service.db) as conn:
        tables = ("events", "messages", "conversations")
        customers = {t: {row[0] for row in conn.execute(f"SELECT DISTINCT customer FROM {t}")} for t in tables}
        first_ms = conn.execute("SELECT min(ts_ms) FROM messages").fetchone()[0]
    assert customers == {t: {BASE} for t in tables}
    day = datetime.fromtimestamp(first_ms / 1000, ZoneInfo("Asia/Shanghai")).date().isoformat()
    where = ["--config", str(tmp_path / "config.toml"), "--db", str(service.db), "--date", day]
    assert main(["report", *where, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(row["consulted"] for row in report["agents"]) == 1
    for customer in (MERGEE, BASE):  # either id finds every record of the buyer
        assert main(buyer(tmp_path, service.db, "find", "--customer", customer)) == 0
        out = capsys.readouterr().out
        assert "messages  6 " in out and "events  6 " in out, out
    assert main(buyer(tmp_path, service.db, "erase", "--customer", MERGEE, "--yes")) == 0
    capsys.readouterr()
    with sqlite3.connect(service.db) as conn:
        left = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (*tables, "customer_merges")}
    assert left == {"events": 0, "messages": 0, "conversations": 0, "customer_merges": 0}


@BACKENDS
async def test_chatwoot_contact_merge_moves_the_logs_rows_on_either_backend(
    aiohttp_client: Any, db_path: store.Location
) -> None:
    # The merge is one writer job of plain SQL: on PostgreSQL as on SQLite, every row of the merged contact moves.
    env = {PASSWORD_ENV: db_path.password or ""} if isinstance(db_path, pg.Location) else {}
    where = {"url": db_path.url, "password_env": PASSWORD_ENV} if isinstance(db_path, pg.Location) else {"path": str(db_path)}  # fmt: skip
    hooks = {"enabled": ["chatwoot"], "chatwoot": {"allow_unsigned": True}}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": where, "hooks": hooks})
    client = await aiohttp_client(make_app(config))
    deliveries = (
        fixture("contact_message", "42", 9701),
        fixture("contact_message", "43", 9702),
        of_base("contact_message", "42", 9703),  # merged: the conversation is the base contact's
        fixture("contact_message", "43", 9704),  # built before the merge, arriving late
    )
    for payload in deliveries:
        resp = await client.post("/v1/chatwoot", json=payload)
        assert resp.status == 200, await resp.text()
    conn = store.connect(db_path, readonly=True)
    try:
        customers = {str(row[0]) for row in conn.execute("SELECT customer FROM messages").fetchall()}
        merges = [tuple(map(str, row)) for row in conn.execute("SELECT customer, merged_into FROM customer_merges")]
        counted = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()
    assert (customers, merges, counted) == ({BASE}, [(MERGEE, BASE)], 4)


def written_by(contact: str, name: str, conversation: str, message_id: int, text: str) -> dict[str, Any]:
    """A customer message of conversation `conversation`, Chatwoot naming its contact `contact` called `name`."""
    payload = fixture("contact_message", conversation, message_id)
    payload["content"] = text
    for sender in (payload["conversation"]["meta"]["sender"], payload["sender"]):
        sender.update(id=int(contact), name=name)
    return payload


async def test_chatwoot_contact_merge_gives_the_cards_the_base_contact_live_and_after_a_restart(
    aiohttp_client: Any, db_path: Path
) -> None:
    # Found: the merged contact's other conversation, cached, kept its card headed by the contact merged away (访客)
    # until it wrote again; and a delivery Chatwoot built before the merge, arriving late, gave the base contact the
    # merged one's name: every card of the buyer read 访客, also after a restart.
    hooks = {"enabled": ["chatwoot"], "chatwoot": {"allow_unsigned": True}}
    config = load_config(ROOT / "config.toml", overrides={"store": {"path": str(db_path)}, "hooks": hooks})

    async def cards(client: Any) -> dict[str, tuple[str, str, list[str]]]:
        html = await (await client.get("/panel?agent=张美玲")).text()
        marker = '<script type="application/json" id="panel-state">'
        start = html.index(marker) + len(marker)
        shown = json.loads(html[start : html.index("</script>", start)])["conversations"]
        return {c["conversation"]: (c["customer"], c["customer_label"], [m["text"] for m in c["messages"]]) for c in shown}  # fmt: skip

    client = await aiohttp_client(make_app(config))
    for payload in (
        written_by(MERGEE, "访客", "42", 9801, "你好，这件外套什么时候发货？"),
        written_by(MERGEE, "访客", "43", 9802, "我上次买的那件有点小"),
        written_by(BASE, "李先生", "50", 9803, "在吗"),
        written_by(BASE, "李先生", "42", 9804, "能便宜点吗"),  # an agent merged 访客 into 李先生
    ):
        assert (await client.post("/v1/chatwoot", json=payload)).status == 200
    expected = {
        "42": (BASE, "李先生", ["你好，这件外套什么时候发货？", "能便宜点吗"]),
        "43": (BASE, "李先生", ["我上次买的那件有点小"]),
        "50": (BASE, "李先生", ["在吗"]),
    }
    assert await cards(client) == expected
    late = written_by(MERGEE, "访客", "43", 9805, "还在吗")  # built before the merge
    assert (await client.post("/v1/chatwoot", json=late)).status == 200
    expected["43"] = (BASE, "李先生", ["我上次买的那件有点小", "还在吗"])
    assert await cards(client) == expected
    await client.close()
    restarted = await aiohttp_client(make_app(config))
    assert await cards(restarted) == expected


def merge_config(db_path: store.Location) -> Config:
    env = {PASSWORD_ENV: db_path.password or ""} if isinstance(db_path, pg.Location) else {}
    where = {"url": db_path.url, "password_env": PASSWORD_ENV} if isinstance(db_path, pg.Location) else {"path": str(db_path)}  # fmt: skip
    hooks = {"enabled": ["chatwoot"], "chatwoot": {"allow_unsigned": True}}
    return load_config(ROOT / "config.toml", env=env, overrides={"store": where, "hooks": hooks})


BEFORE_MERGE = (
    written_by(MERGEE, "访客", "42", 9901, "你好，这件外套什么时候发货？"),
    written_by(MERGEE, "访客", "43", 9902, "我上次买的那件有点小"),
    written_by(BASE, "李先生", "50", 9903, "在吗"),
)
MERGING = written_by(BASE, "李先生", "42", 9904, "能便宜点吗")  # an agent merged 访客 into 李先生


def merged_card(e: Any) -> bool:
    """The card of the merged contact's other conversation (43, no event of its own since), as a panel hears it."""
    return bool(e.event == "conversation" and e.data["conversation"] == "43" and e.data["payload"]["customer"] == BASE)


@BACKENDS
async def test_chatwoot_contact_merge_reaches_an_open_panel_at_once(
    aiohttp_client: Any, db_path: store.Location
) -> None:
    # Found: an open panel kept the card of the merged contact's other conversation headed by the contact merged
    # away (访客) until that conversation's next event; only a reload showed the base contact.
    client = await aiohttp_client(make_app(merge_config(db_path)))
    for payload in BEFORE_MERGE:
        assert (await client.post("/v1/chatwoot", json=payload)).status == 200
    panel = await open_stream(client, "agent=张美玲")
    try:
        assert (await client.post("/v1/chatwoot", json=MERGING)).status == 200
        card = (await panel.wait_for(merged_card)).data["payload"]
        assert (card["customer_label"], [m["text"] for m in card["messages"]]) == ("李先生", ["我上次买的那件有点小"])
        assert card["event_type"] == "customer_merged"
    finally:
        await panel.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_chatwoot_contact_merge_reaches_the_panels_of_another_instance_at_once(
    aiohttp_client: Any, db_path: store.Location
) -> None:
    # Instances of one PostgreSQL database: the merge delivered to one, a panel open on the other kept 访客's card.
    config = merge_config(db_path)
    here, there = await aiohttp_client(make_app(config)), await aiohttp_client(make_app(config))
    panel = await open_stream(there, "agent=张美玲")
    try:
        for payload in BEFORE_MERGE:
            assert (await here.post("/v1/chatwoot", json=payload)).status == 200
        await panel.wait_for(lambda e: e.event == "conversation" and e.data["conversation"] == "43")
        assert (await here.post("/v1/chatwoot", json=MERGING)).status == 200
        card = (await panel.wait_for(merged_card, timeout=10)).data["payload"]
        assert [m["text"] for m in card["messages"]] == ["我上次买的那件有点小"]
        assert card["customer_label"] == "李先生"  # read again there: its cards of 50 may have come before the name
    finally:
        await panel.close()
