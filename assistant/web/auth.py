"""Bearer-token checks for the agent, supervisor and admin pages (constant-time)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from aiohttp import web

from assistant.config import Config
from assistant.events import clean_name
from assistant.i18n import N_
from assistant.signing import same_secret
from assistant.web.appkeys import CONFIG
from assistant.web.errors import JsonError

Role = Literal["agent", "supervisor", "admin"]
# A stronger role opens what a weaker one can: admin ⊃ supervisor ⊃ agent.
_ORDER: dict[str, int] = {"agent": 0, "supervisor": 1, "admin": 2}


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
    held = role_of(config, token) if token else None
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
