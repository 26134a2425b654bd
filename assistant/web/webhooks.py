"""`POST /v1/events`: read, authenticate, validate, and hand events to the ingestor; `/healthz`, `/readyz`."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from assistant.events import NAME_FIELDS, EventError, parse_batch, parse_event
from assistant.signing import SignatureError, verify
from assistant.tasks import fault_reason
from assistant.web import readiness
from assistant.web.appkeys import BUDGET, CONFIG, ENGINE, FILES, FLEET, FOLLOWUPS, INGESTOR, WRITER
from assistant.web.body import declared_charset, decode_json, json_answer, read_body
from assistant.web.errors import json_error, unavailable

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Assistant-Signature"
TIMESTAMP_HEADER = "X-Assistant-Timestamp"


async def post_events(request: web.Request) -> web.Response:
    """Accept one event or a batch; respond after it is durably logged."""
    app = request.app  # a property: read once
    config = app[CONFIG]
    body = await read_body(request, config.server.max_body_bytes, timeout_s=config.server.request_timeout_s)
    secret = config.secret(config.webhook.secret_env)
    if secret is not None:
        try:
            verify(
                secret,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=body,
                tolerance_s=config.webhook.signature_tolerance_s,
            )
        except SignatureError as exc:
            log.warning("rejected from %s: %s", request.remote, exc)
            return json_error(
                401, "bad_signature", TIMESTAMP_HEADER if exc.header == "timestamp" else SIGNATURE_HEADER, str(exc)
            )
    doc = decode_json(body, charset=declared_charset(request), names=NAME_FIELDS)
    is_batch = isinstance(doc, list)
    try:
        raws = parse_batch(doc, config.server.max_batch)
        events = []
        for index, raw in enumerate(raws):
            try:
                events.append(parse_event(raw, max_text_chars=config.webhook.max_text_chars))
            except EventError as exc:
                exc.index = index if is_batch else None
                raise
    except EventError as exc:
        log.warning("rejected from %s: %s", request.remote, exc)
        extra: dict[str, Any] = {"index": exc.index} if exc.index is not None else {}
        return json_error(400, "invalid_event", exc.field, exc.message, **extra)
    responses = await app[INGESTOR].ingest(events)
    # Encoded once, straight to bytes (Chinese kept as UTF-8, like json_dumps).
    body = msgspec.json.encode(responses if is_batch else responses[0])
    return json_answer(body)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers (whatever the state of the database)."""
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: a write to the database commits now (503 with the reason otherwise).

    The matching workers' states are shown, not judged: while none is ready the service matches itself. So are
    the follow-ups' counts (pending, left pending by a locked database, payment checks given up): stuck ones
    are seen here, and the service still takes events; and on PostgreSQL whether fleet reloads reach it.
    """
    files = request.app.get(FILES)
    full = files.problem() if files is not None else None
    if full is not None:  # this request got through as a connection closed; others are being reset
        return unavailable("not_ready", f"the service cannot take connections now ({full})")
    writer = request.app[WRITER]
    problem = await readiness.probe(writer)  # within a load balancer's check, even behind a stuck group
    if isinstance(problem, readiness.Stuck):  # logged with what it waits for; said here by its kind and how long
        return unavailable("not_ready", f"the database cannot be written now (busy: {problem})")
    if problem is not None:  # open to anyone: the fault's kind, its detail (the server's address, role) in the log
        reason = fault_reason(problem)
        writer.faults.log(f"request:{reason}", "not ready: %s", problem)
        return unavailable("not_ready", f"the database cannot be written now ({reason})")
    body: dict[str, Any] = {"ready": True}
    wal = writer.wal.warning
    if wal is not None:  # writes go through, but the disk fills while a read holds the log's -wal
        body["log_wal"] = wal
    held = writer.wal.read
    if held is not None:  # the same, said by how long the read has held it and who holds it (logfile/apart.py)
        body["log_wal_read"] = held
    engine = request.app.get(ENGINE)
    if engine is not None and engine.workers is not None:
        body["matching_workers"] = engine.workers.states
    if engine is not None and engine.adjust is not None and engine.adjust.switched_off:  # said, not judged: it serves
        body["hooks_switched_off"] = engine.adjust.switched_off
    followups = request.app.get(FOLLOWUPS)
    if followups is not None:
        body["followups"] = await followups.deliverer.counts()
    fleet = request.app.get(FLEET)
    if fleet is not None:  # a reload of every instance misses this one while it does not listen (it catches up)
        body["fleet_reloads"] = {"listening": fleet.listening.is_set(), "applied": fleet.applied}
    budget = request.app.get(BUDGET)
    if budget is not None and budget.problem is not None:  # said, not judged: the instance serves (cluster/budget.py)
        body["connection_budget"] = budget.problem
    return web.json_response(body)
