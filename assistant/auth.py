"""Bearer-token checks for the agent, supervisor and admin pages (constant-time)."""

from __future__ import annotations

import hmac
from typing import Literal

from aiohttp import web

from assistant.appkeys import CONFIG
from assistant.config import Config

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
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            found = role  # type: ignore[assignment]
    return found


def require(request: web.Request, role: Role) -> Role:
    """Let the request through when it holds `role` (or stronger); raise 401/403 otherwise.

    A role whose token is not configured is open (local demo); `assistant serve` warns about it.
    """
    config = request.app[CONFIG]
    if token_for(config, role) is None:
        return role
    token = presented_token(request)
    if not token:
        raise web.HTTPUnauthorized(
            text='{"error": "unauthorized", "field": "token", "message": "token required"}',
            content_type="application/json",
        )
    held = role_of(config, token)
    if held is None or _ORDER[held] < _ORDER[role]:
        raise web.HTTPUnauthorized(
            text='{"error": "unauthorized", "field": "token", "message": "invalid token"}',
            content_type="application/json",
        )
    return held
