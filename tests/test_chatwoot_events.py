"""Every event Chatwoot legitimately sends, through the real service: logged or ignored as docs/chatwoot.md's
table says, never refused, never a 500."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_config
from assistant.web.chatwoot import secrets
from tests.helpers import ROOT
from tests.test_chatwoot_payloads import Client, cw, fixture, rows, send

__all__ = ["cw"]  # the fixture, imported to be used here


def message(name: str, **changes: Any) -> dict[str, Any]:
    """A message fixture (tests/data/chatwoot/README.md names its Chatwoot source), changed as `changes` say."""
    payload = fixture(name)
    payload.update(changes)
    return payload


def edited(name: str, event: str = "message_updated", **changes: Any) -> dict[str, Any]:
    return message(name, event=event, **changes)


def conversation_event(event: str, **extra: Any) -> dict[str, Any]:
    """`{event, conversation: Conversation#webhook_data, …}` as `app/listeners/webhook_listener.rb` sends typing
    events (`conversation_typing_on`: `user`, `is_private`)."""
    return {"event": event, "conversation": fixture("status_resolved"), **extra}


def contact_event(event: str, **extra: Any) -> dict[str, Any]:
    """`Contact#webhook_data` (`app/models/contact.rb`, no `type`) with the event, as
    `webhook_listener.rb#contact_created` / `#contact_updated` send it (`changed_attributes` on an update)."""
    contact = {"account": {"id": 3, "name": "示例旗舰店"}, "additional_attributes": {}, "avatar": "",
               "custom_attributes": {}, "email": None, "id": 501, "identifier": None, "name": "王小姐",
               "phone_number": None, "thumbnail": "", "blocked": False}  # fmt: skip
    return {**contact, "event": event, **extra}


# (event as the docs' table names it, the payload, the answer's `ignored` (None: accepted), the senders logged)
CASES: list[tuple[str, dict[str, Any], str | None, list[str]]] = [
    ("message_created", message("contact_message"), None, ["customer"]),
    ("message_created", message("agent_reply"), None, ["agent"]),
    ("message_created", message("bot_message"), None, ["auto"]),
    ("message_created", message("template_message"), None, ["auto"]),
    ("message_created", message("attachment_reply"), None, ["agent"]),
    ("in_reply_to", message("contact_message", content_attributes={"in_reply_to": 9100}), None, ["customer"]),
    ("message_created", message("private_note"), "private note", []),
    ("message_updated", edited("contact_message", status="read"), None, ["customer"]),
    ("message_updated", edited("message_deleted"), "deleted message", []),
    ("conversation_status_changed", fixture("status_resolved"), None, []),
    ("conversation_updated", fixture("updated_labels"), "without a status or assignee change", []),
    ("conversation_created", fixture("conversation_created"), "conversation created", []),
    ("webwidget_triggered", fixture("widget_triggered"), "widget opened", []),
    ("conversation_typing_on", conversation_event("conversation_typing_on", is_private=False), "is not used", []),
    ("conversation_typing_off", conversation_event("conversation_typing_off", is_private=False), "is not used", []),
    ("contact_created", contact_event("contact_created"), "is not used", []),
    ("contact_updated", contact_event("contact_updated", changed_attributes=[{"name": {}}]), "is not used", []),
    ("contact_merged", contact_event("contact_merged"), "is not used", []),
    ("inbox_created", {"event": "inbox_created", "id": 7, "name": "官网客服", "account": {"id": 3}}, "is not used", []),
]


@pytest.mark.parametrize(("event", "payload", "ignored", "senders"), CASES, ids=[c[0] for c in CASES])
async def test_chatwoot_every_event_is_logged_or_ignored_as_the_docs_table_says(
    cw: Client, db_path: Path, event: str, payload: dict[str, Any], ignored: str | None, senders: list[str]
) -> None:
    if payload.get("event") == "message_updated" and ignored is None:  # an update of a message logged before
        assert (await send(cw, message("contact_message")))[0] == 200
    status, answer = await send(cw, payload)
    assert status == 200, answer
    if ignored is None:
        assert answer["accepted"] is True, answer
    else:
        assert answer["accepted"] is False and ignored in answer["ignored"], answer
    assert [s for (s,) in rows(db_path, "SELECT sender FROM messages ORDER BY seq")] == senders
    table = (ROOT / "docs" / "chatwoot.md").read_text(encoding="utf-8").split("### What each event does")[1]
    assert re.search(rf"^\|[^|\n]*`{event}`", table, re.MULTILINE), f"{event} is not in docs/chatwoot.md's table"


def test_chatwoot_secrets_follow_their_config(tmp_path: Path) -> None:
    # The secrets are listed once per config, not per delivery: an app started with another config (a restart with
    # a rotated secret, another instance in the same process) verifies with its own, never the last one's.
    path = tmp_path / "config.toml"
    path.write_text('[hooks]\nenabled = ["chatwoot"]\n[hooks.chatwoot]\nextra_secrets_env = ["CW_BOT"]\n', "utf-8")
    first = load_config(path, env={"CHATWOOT_WEBHOOK_SECRET": "one", "CW_BOT": "bot"})
    second = load_config(path, env={"CHATWOOT_WEBHOOK_SECRET": "two"})
    assert secrets(first) == [("one", None), ("bot", None)]
    assert secrets(second) == [("two", None)]
    assert secrets(first) == [("one", None), ("bot", None)]
