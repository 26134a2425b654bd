"""Bearer-token checks for the agent, supervisor and admin pages (constant-time), and the supervisors' page cookie:
a token that came in a page's URL is moved into it, so that the pages' links carry none."""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Literal
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.config import Config
from assistant.events import clean_name
from assistant.i18n import N_
from assistant.signing import same_secret
from assistant.web.appkeys import CONFIG
from assistant.web.errors import JsonError

Role = Literal["agent", "supervisor", "admin"]
# A stronger role opens what a weaker one can: admin ⊃ supervisor ⊃ agent.
_ORDER: dict[str, int] = {"agent": 0, "supervisor": 1, "admin": 2}
# The supervisors' pages: opened from a link with ?token= (bookmarked, sent in a chat), the browser is sent on to the
# same address without it, the page cookie set (`page_token`).
TOKEN_PAGES = frozenset({"/reports/daily", "/logs/daily", "/qa", "/qa/day"})
# Where the page cookie opens, and only to a GET: those pages and what their script reads. Nothing that writes, so a
# cookie a browser sends by itself cannot be made to act (the panel, inside Chatwoot's cross-site frame, where
# browsers send no cookie, keeps its token in the Authorization header).
COOKIE_PATHS = TOKEN_PAGES | {"/v1/qa/stream", "/v1/qa/recent"}
PAGE_COOKIE = "cs_assistant_page"


def token_for(config: Config, role: Role) -> str | None:
    """The configured token of a role, or None when its environment variable is unset."""
    env = {
        "agent": config.auth.agent_token_env,
        "supervisor": config.auth.supervisor_token_env,
        "admin": config.auth.admin_token_env,
    }[role]
    return config.secret(env)


def agent_token(config: Config, agent: str) -> str | None:
    """The panel token of one agent: an HMAC of the agent's name under the agent secret.

    It opens only that agent's panel and stream; the secret itself is the team token (every agent,
    e.g. a Chatwoot dashboard app shared by all). `assistant panel-url --agent NAME` prints it.
    """
    secret = token_for(config, "agent")
    if secret is None:
        return None
    return hmac.new(secret.encode(), f"agent:{agent}".encode(), hashlib.sha256).hexdigest()[:32]


def bound_agent(request: web.Request) -> str | None:
    """The agent a request's per-agent token belongs to (checked against `?agent=`), else None."""
    config = request.app[CONFIG]
    agent = clean_name(request.query.get("agent", ""))
    expected = agent_token(config, agent) if agent else None
    token = presented_token(request)
    if expected and token and same_secret(token, expected):
        return agent
    return None


def presented_token(request: web.Request) -> str:
    """The token a request carries: `Authorization: Bearer …`, else `?token=`."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token", "")


def role_of(config: Config, token: str) -> Role | None:
    """The strongest role whose token matches, compared in constant time."""
    found: Role | None = None
    for role in ("agent", "supervisor", "admin"):
        expected = token_for(config, role)  # type: ignore[arg-type]
        if expected and same_secret(token, expected):
            found = role  # type: ignore[assignment]
    return found


def open_demo(config: Config) -> bool:
    """Whether no role has a token: the local demo, where every page and endpoint is open."""
    return all(token_for(config, role) is None for role in ("agent", "supervisor", "admin"))


def require(request: web.Request, role: Role) -> Role:
    """Let the request through when it holds `role` (or stronger); raise 401/403 otherwise.

    Every role is open while no token at all is configured (local demo); `assistant serve` warns about it.
    Once one is, a role left without its own opens only to a stronger role's token: an unset admin token
    had opened the admin routes to anyone, and the daily log's unmasking to every supervisor.
    """
    config = request.app[CONFIG]
    if open_demo(config):
        return role
    token = presented_token(request)
    held = role_of(config, token) if token else cookie_role(request)
    if held is None and role == "agent" and token and bound_agent(request) is not None:
        return "agent"
    if held is not None and _ORDER[held] >= _ORDER[role]:
        return held
    if token_for(config, role) is None:
        env = {"agent": config.auth.agent_token_env, "supervisor": config.auth.supervisor_token_env}.get(
            role, config.auth.admin_token_env
        )
        raise JsonError(401, "unauthorized", "token", f"no {role} token is configured: set {env}")
    # Marked for the catalog: the JSON keeps the English, the error page shows it in the page's language.
    raise JsonError(401, "unauthorized", "token", N_("invalid token") if token else N_("token required"))


def only_agent(request: web.Request) -> str | None:
    """The one agent a request may act as when it holds a per-agent token; None when it may act for any."""
    config = request.app[CONFIG]
    if token_for(config, "agent") is None or role_of(config, presented_token(request)) is not None:
        return None
    return bound_agent(request)


def page_cookie(token: str) -> str:
    """What the page cookie holds for a token: an HMAC of it, not the token (it opens the pages, no API)."""
    return hmac.new(token.encode(), b"cs-assistant page cookie", hashlib.sha256).hexdigest()


def cookie_role(request: web.Request) -> Role | None:
    """The role the page cookie holds, on a GET of COOKIE_PATHS (elsewhere, none), compared in constant time."""
    value = request.cookies.get(PAGE_COOKIE, "")
    if not value or request.method not in ("GET", "HEAD") or request.path not in COOKIE_PATHS:
        return None
    found: Role | None = None
    for role in ("supervisor", "admin"):
        expected = token_for(request.app[CONFIG], role)  # type: ignore[arg-type]
        if expected and same_secret(value, page_cookie(expected)):
            found = role  # type: ignore[assignment]
    return found


def page_token(handler: Handler) -> Handler:
    """`handler` of a supervisors' page (TOKEN_PAGES), where a browser opening it with a valid `?token=` is sent to
    the address without it (303), the page cookie set: the token leaves the address bar (a copied or shared link, a
    screenshot), and the page's links, which carry none, do not spread it into the history, a Referer or a server's
    log. Programs (no text/html in their Accept) and a token that opens nothing get the page as before. A wrapper of
    those four routes, not a middleware: the webhooks never pass through it."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        if not (
            token
            and "text/html" in request.headers.get("Accept", "")
            and role_of(request.app[CONFIG], token) in ("supervisor", "admin")
        ):
            return await handler(request)
        kept = [(name, value) for name, value in request.query.items() if name != "token"]
        location = request.path + (f"?{urlencode(kept)}" if kept else "")
        moved = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store", **NO_REFERRER})
        moved.set_cookie(
            PAGE_COOKIE, page_cookie(token), path="/", httponly=True, samesite="Lax", secure=request.secure or None
        )
        return moved

    return page


NO_REFERRER = {"Referrer-Policy": "no-referrer"}


async def no_referrer(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer says `Referrer-Policy: no-referrer` (a page's URL may carry a token: the
    panel's, the links a supervisor was given), unless it says otherwise."""
    response.headers.setdefault("Referrer-Policy", "no-referrer")
