"""Every route of the service, in one table."""

from __future__ import annotations

from aiohttp import web

from assistant.web import chatwoot, groups, logs, panel, qa, reports, sizes, stream, suggest, webhooks
from assistant.web.auth import page_token
from assistant.web.errors import expect_body

_SERVER_LIMIT = expect_body(lambda config: config.server.max_body_bytes)

_TABLE: list[web.RouteDef] = [
    web.get("/", panel.root),  # → /panel
    web.get("/favicon.ico", panel.favicon),
    web.post("/v1/events", webhooks.post_events),  # chat platforms (signed)
    web.post(  # Chatwoot webhooks (signed)
        "/v1/chatwoot",
        chatwoot.post_chatwoot,
        expect_handler=expect_body(lambda config: config.hooks.chatwoot.max_body_bytes),
    ),
    web.get("/v1/suggest", suggest.get_suggest),
    web.get("/v1/phrases/search", suggest.get_phrase_search),  # agent
    web.post("/v1/admin/reload", suggest.post_reload),  # admin
    web.get("/v1/admin/sizes", sizes.get_sizes),  # admin: the in-memory maps' sizes
    web.get("/v1/admin/writer", groups.get_writer),  # admin: the writer's groups counted
    web.get("/panel", panel.get_panel),  # agent
    web.post("/v1/panel/used", panel.post_used),  # agent
    web.post("/v1/panel/demo", panel.post_demo),  # agent, demo mode
    web.get("/v1/stream", stream.get_stream),  # agent (SSE)
    web.get("/reports/daily", page_token(reports.daily_report_page)),  # supervisor
    web.get("/v1/reports/daily", reports.daily_report_json),  # supervisor
    web.get("/logs/daily", page_token(logs.daily_log_page)),  # supervisor
    web.get("/v1/qa/check", qa.get_check),  # agent (a draft's flags)
    web.get("/qa", page_token(qa.get_page)),  # supervisor
    web.get("/qa/day", page_token(qa.get_day)),  # supervisor
    web.get("/v1/qa/recent", qa.get_recent),  # supervisor
    web.get("/v1/qa/stream", qa.get_stream),  # supervisor (SSE)
    web.get("/healthz", webhooks.healthz),  # liveness
    web.get("/readyz", webhooks.readyz),  # readiness: the database takes writes
    web.get("/panel/static/{filename}", panel.static_file),  # panel.js, panel.css
]

# Every route answers an `Expect` itself (aiohttp's default handler answered an unknown one in plain text).
ROUTES: list[web.AbstractRouteDef] = [
    web.RouteDef(r.method, r.path, r.handler, {"expect_handler": _SERVER_LIMIT, **r.kwargs}) for r in _TABLE
]
