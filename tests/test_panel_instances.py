"""The agent panel on instances sharing one PostgreSQL database: what a panel on one shows of events another took."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from assistant import store
from assistant.web.appkeys import WRITER
from tests.helpers import make_app
from tests.test_chatwoot_merge import merge_config, written_by
from tests.test_live import Sse, open_stream

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

CONTACT = "601"


def card_of(conversation: str, messages: int) -> Callable[[Sse], bool]:
    """A panel's card of `conversation` once it shows `messages` messages."""
    return lambda e: bool(
        e.event == "conversation"
        and e.data["conversation"] == conversation
        and len(e.data["payload"]["messages"]) == messages
    )


async def test_panel_instances_card_names_a_new_contact_though_its_instance_saves_the_name_late(
    aiohttp_client: Any, db_path: store.Location
) -> None:
    # Found: a panel on the other instance built the card of a new Chatwoot contact's first message before the instance
    # that took it had saved the contact's name (a writer job after the event's), showed 买家 #601 and cached "no name":
    # every later card of that contact there said 买家 #601 too, for as long as the entry stayed cached.
    config = merge_config(db_path)
    here, there = await aiohttp_client(make_app(config)), await aiohttp_client(make_app(config))
    writer, later = here.app[WRITER], asyncio.Event()
    submit = writer.submit

    async def held(job: Any, *, together: bool = False) -> Any:
        """The jobs after the events' (what the delivery taught): held until the other instance built its card."""
        if not together:
            await later.wait()
        return await submit(job, together=together)

    writer.submit = held  # type: ignore[method-assign]
    panel = await open_stream(there, "agent=张美玲")
    try:
        first = asyncio.create_task(here.post("/v1/chatwoot", json=written_by(CONTACT, "王女士", "60", 9001, "在吗")))
        card = (await panel.wait_for(card_of("60", 1), timeout=10)).data["payload"]
        later.set()
        assert (await first).status == 200
        assert card["customer_label"] == "王女士"
        again = written_by(CONTACT, "王女士", "60", 9002, "这件有货吗")
        assert (await here.post("/v1/chatwoot", json=again)).status == 200
        assert (await panel.wait_for(card_of("60", 2), timeout=10)).data["payload"]["customer_label"] == "王女士"
    finally:
        later.set()
        await panel.close()


async def test_panel_instances_card_names_a_contact_named_after_the_other_instance_read_none(
    aiohttp_client: Any, db_path: store.Location
) -> None:
    # Found: a contact who wrote first without a name (买家 #601, right then) and was named in Chatwoot before writing
    # again kept 买家 #601 on the other instance's panels: "no name" stayed cached there after the name was saved.
    config = merge_config(db_path)
    here, there = await aiohttp_client(make_app(config)), await aiohttp_client(make_app(config))
    panel = await open_stream(there, "agent=张美玲")
    try:
        assert (await here.post("/v1/chatwoot", json=written_by(CONTACT, "", "60", 9101, "在吗"))).status == 200
        assert (await panel.wait_for(card_of("60", 1), timeout=10)).data["payload"]["customer_label"] == "买家 #601"
        named = written_by(CONTACT, "王女士", "60", 9102, "这件有货吗")
        assert (await here.post("/v1/chatwoot", json=named)).status == 200
        assert (await panel.wait_for(card_of("60", 2), timeout=10)).data["payload"]["customer_label"] == "王女士"
        # A conversation of hers the other instance never cached a state of: named at once too.
        other = written_by(CONTACT, "王女士", "61", 9103, "还有一个问题")
        assert (await here.post("/v1/chatwoot", json=other)).status == 200
        assert (await panel.wait_for(card_of("61", 1), timeout=10)).data["payload"]["customer_label"] == "王女士"
    finally:
        await panel.close()
