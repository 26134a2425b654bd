"""Helpers shared by the tests: the repository root, events, bodies, signing, config copies."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Any

from assistant.config import Config
from assistant.signing import sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-webhook-secret"
_ids = itertools.count(1)


def signed_headers(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    """Headers that sign `body` the way a platform must."""
    stamp = int(time.time()) if ts is None else ts
    return {
        "X-Assistant-Signature": sign(secret, stamp, body),
        "X-Assistant-Timestamp": str(stamp),
        "Content-Type": "application/json",
    }


def make_event(type: str = "message", **fields: Any) -> dict[str, Any]:
    """A valid event of `type`; keyword arguments override or add fields."""
    event: dict[str, Any] = {
        "id": f"evt-{next(_ids)}",
        "type": type,
        "ts": "2026-11-20T10:00:00+08:00",
        "shop": "shop1",
        "conversation": "conv1",
        "customer": "cust1",
    }
    if type == "message":
        event.update(sender="customer", text="在吗？这个什么时候发货")
    elif type in ("order_created", "order_paid"):
        event.update(order="order1", amount=99.5)
    elif type == "suggestion_used":
        event.update(agent="agent1", phrase_id="shipping_time.today")
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def body_of(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def replace_config(config: Config, section: str, **values: Any) -> Config:
    """A copy of `config` with some keys of one section changed."""
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)})
