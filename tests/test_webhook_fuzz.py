"""Every POST route and the GET routes' query parameters, fuzzed through a real server on a real SQLite log.

The rules (docs/events.md, Errors): a malformed request is a 4xx in JSON naming the problem, never a 5xx; a refused
request writes nothing; an accepted one is logged once; the next valid request is answered. Bounded and
derandomized, so the file runs in seconds and the same cases every time; `@example`s keep the cases it found.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.config import load_config
from assistant.signing import sign
from tests.helpers import ROOT, SECRET, make_app, make_event

Client = TestClient  # type: ignore[type-arg]
CW_SECRET = "cw-fuzz-secret"
FIXTURES = ROOT / "tests" / "data" / "chatwoot"
FUZZ = settings(
    max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Values put at a JSON path: wrong types, empty, huge and negative numbers, floats where ints go, long strings,
# NUL, a lone surrogate; and (as bytes) JSON literals json.dumps cannot write: NaN, 1e400, a raw surrogate, nesting.
MUTANTS: list[Any] = [
    None, "", " ", 0, -1, 2**63, -(2**63), 10**30, 1.5, -0.0, 1e308, -1e308, True, [], {}, [1], {"a": None},
    "x" * 6000, "\x00", "a\x00b", "\ud800", "\u202e", "\ufeff", "1", "2026-11-20T10:00:00", "9999-12-31T00:00:00Z",
    b"NaN", b"-Infinity", b"1e400", b'"\\ud800"', b'"\\u0000"', b'"\xed\xa0\x80"', b'"\xff"', b"9" * 101,
    b"[" * 40 + b"]" * 40,
]  # fmt: skip
SEEDS = ["event", "batch", "order_refunded", "suggestion_used", *sorted(p.stem for p in FIXTURES.glob("*.json"))]


@pytest.fixture
async def served(aiohttp_client: Any, db_path: Path) -> Client:
    """The app on 127.0.0.1, both webhooks signed, the panel's demo on, no follow-ups (they write on their own)."""
    config = load_config(
        ROOT / "config.toml",
        env={"ASSISTANT_WEBHOOK_SECRET": SECRET, "CHATWOOT_WEBHOOK_SECRET": CW_SECRET},
        overrides={
            "store": {"path": str(db_path)},
            "hooks": {"enabled": ["chatwoot"]},
            "panel": {"demo": True},
            "followups": {"enabled": False},
        },
    )
    return await aiohttp_client(make_app(config))


_serial = iter(range(10**9))


def seed(name: str) -> tuple[str, Any]:
    """A valid payload with fresh ids (route, document)."""
    n = next(_serial)
    if name in ("event", "order_refunded", "suggestion_used"):
        kind = "message" if name == "event" else name
        return "/v1/events", make_event(kind, id=f"fz-{n}", conversation=f"c{n}", agent="小美")
    if name == "batch":
        return "/v1/events", [make_event(id=f"fz-{n}"), make_event("order_paid", id=f"fz-{n}b", order=f"o{n}")]
    payload = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    if "message_type" in payload:
        payload["id"] = 100_000 + n
    return "/v1/chatwoot", payload


def paths(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        found += paths(value, (*at, key))
    return found


def mutated(doc: Any, path: tuple[Any, ...], value: Any) -> bytes:
    """`doc` with the value at `path` replaced (bytes: a raw JSON literal), as UTF-8 bytes."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "@@RAW@@" if isinstance(value, bytes) else value
    body = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return body.replace(b'"@@RAW@@"', value, 1) if isinstance(value, bytes) else body


def signed(route: str, body: bytes, *, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(time.time()))
    if route == "/v1/chatwoot":
        return {"X-Chatwoot-Signature": sign(CW_SECRET, stamp, body), "X-Chatwoot-Timestamp": stamp}
    return {"X-Assistant-Signature": sign(SECRET, stamp, body), "X-Assistant-Timestamp": stamp}


def counts(db: Path) -> dict[str, int]:
    """Rows per table of the log (the Chatwoot memory's aside: an ignored delivery may teach it)."""
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names}


async def check(client: Client, db: Path, route: str, body: bytes, headers: dict[str, str]) -> None:
    """The rules for one request, then a valid event answered."""
    before = counts(db)
    resp = await client.post(route, data=body, headers={"Content-Type": "application/json", **headers})
    text = await resp.text()
    assert resp.status < 500, (route, body[:300], text)
    answer = json.loads(text)
    after = counts(db)
    if resp.status >= 400:
        assert answer["error"] and answer["message"] and answer["field"], answer
        assert after == before, (answer, body[:300])  # nothing half-written
    elif route == "/v1/events" or answer.get("accepted"):
        results = answer if isinstance(answer, list) else answer.get("events", [answer])
        new = sum(not r["duplicate"] for r in results)
        assert after["events"] - before["events"] == new, (answer, body[:300])
    valid = json.dumps(make_event(id=f"fz-next-{next(_serial)}")).encode()
    resp = await client.post("/v1/events", data=valid, headers=signed("/v1/events", valid))
    assert resp.status == 200, await resp.text()


@FUZZ
@given(data=st.data(), name=st.sampled_from(SEEDS), value=st.sampled_from(MUTANTS))
@example(data=None, name="contact_message", value=2**63).via("a huge updated_at was a 500")
async def test_fuzz_a_payload_mutated_at_any_path_is_accepted_once_or_refused_cleanly(
    served: Client, db_path: Path, data: Any, name: str, value: Any
) -> None:
    route, doc = seed(name)
    where = paths(doc)
    path = ("conversation", "updated_at") if data is None else data.draw(st.sampled_from(where), label="path")
    body = mutated(doc, path, value)
    await check(served, db_path, route, body, signed(route, body))


@FUZZ
@given(route=st.sampled_from(["/v1/events", "/v1/chatwoot"]), stamp=st.text(min_size=1, max_size=40))
@example(route="/v1/chatwoot", stamp="9" * 400).via("a 400-digit timestamp overflowed a float: a 500")
@example(route="/v1/events", stamp="１７９５１４００００").via("full-width digits were read as a time")
async def test_fuzz_a_signature_timestamp_of_any_text_is_a_401_naming_it(
    served: Client, db_path: Path, route: str, stamp: str
) -> None:
    stamp = stamp.strip() or "x"
    if not stamp.isprintable() or not stamp.isascii() and len(stamp.encode()) > 100:
        stamp = "x"  # a header holds no control character (aiohttp refuses to send it)
    body = json.dumps(seed("event" if route == "/v1/events" else "contact_message")[1]).encode()
    before = counts(db_path)
    resp = await served.post(route, data=body, headers=signed(route, body, stamp=stamp))
    assert resp.status == 401, await resp.text()
    answer = await resp.json()
    assert answer["error"] == "bad_signature" and answer["field"].endswith("-Timestamp"), answer
    assert counts(db_path) == before


QUERY_VALUES = [
    "", "%ZZ", "%00", "%FF", "%D4%DA", "%ED%A0%80", "-1", "0", "99999999999999999999", "1.5", "NaN", "1e400",
    "%EF%BC%91", "%C2%B2", "2026-02-30", "0000-01-01", "9999-12-31", "2026-11-20T00:00:00", "x" * 3000,
    "%E2%80%AE", "%EF%BB%BF", "a%26b",
]  # fmt: skip
QUERY_ROUTES = {
    "/v1/suggest?text=%E5%9C%A8": ["text", "shop", "conversation", "item"],
    "/v1/phrases/search?q=fh": ["q", "limit", "shop"],
    "/v1/reports/daily?": ["date", "from", "to", "shop", "format"],
    "/logs/daily?format=json": ["date", "shop", "offset", "limit", "agent", "q", "intent", "qa"],
    "/v1/qa/check?text=%E5%9C%A8": ["text", "side"],
    "/qa/day?": ["date", "shop"],
    "/v1/admin/reload?": ["fleet", "wait_s"],
}


@FUZZ
@given(route=st.sampled_from(sorted(QUERY_ROUTES)), data=st.data(), value=st.sampled_from(QUERY_VALUES))
async def test_fuzz_a_query_parameter_of_any_value_is_answered_or_a_400_naming_it(
    served: Client, db_path: Path, route: str, data: Any, value: str
) -> None:
    name = data.draw(st.sampled_from(QUERY_ROUTES[route]), label="name")
    method = served.post if route.startswith("/v1/admin/") else served.get
    joint = "" if route.endswith(("?", "&")) else "&"
    resp = await method(f"{route}{joint}{name}={value}", headers={"Accept": "application/json"})
    assert resp.status < 500, await resp.text()
    if resp.status >= 400:
        answer = await resp.json()
        assert answer["error"] == "invalid_query" and answer["field"], answer
