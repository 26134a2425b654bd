"""What a follow-up's failure says when Chatwoot refused the token one conversation (401 `You are not authorized to do
this action`: `ConversationPolicy#show?` refused, answered by RequestExceptionHandler), whose other conversations it
may post in. The answer is the same whatever refused it; who the token is tells the causes apart, so the token's
profile is asked (`GET /api/v1/profile`), its answer kept PROFILE_TTL_MS per token (a burst of refusals asks once;
a role changed in Chatwoot is seen within that time):

- an agent bot's token (the profile refused: "not authorized for bots"): no user's membership or role is at stake.
  Chatwoot lets an agent bot see every conversation of its account since chatwoot/chatwoot#14655: one that refused the
  bot `conversations#show` (hooks/chatwoot.py's look, `refused_reads`) is older, one that let it refused the
  conversation all the same, for a reason of its own;
- an administrator's: Chatwoot lets an administrator see every conversation, so neither is the cause;
- an agent's with a custom role (Chatwoot Enterprise, `custom_role_id` in the profile's account): unless the role has
  `conversation_manage`, it sees only the conversations assigned to its user or in which the user takes part (and the
  unassigned ones with `conversation_unassigned_manage`), after the membership below;
- an agent's without one: the user is no member of the conversation's inbox (nor of its team);
- not known (no answer in time, another answer): either of the last two.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from typing import Any

import aiohttp

from assistant.config import Config
from assistant.outbound import Outbound

PROFILE = "/api/v1/profile"
BOTS_REFUSED = "not authorized for bots"  # as hooks/chatwoot.py reads it
MANAGE_ALL = "conversation_manage"
PROFILE_TTL_MS = 60_000  # how long a token's profile (or that none was had) is taken as it was
# Per application (its Outbound): (Chatwoot's URL, the token's digest) → when it was asked, and the answer (the request
# itself while it runs: the refusals of a burst wait for the one request). As many entries as tokens configured.
_PROFILES: weakref.WeakKeyDictionary[Outbound, dict[tuple[str, str], tuple[int, asyncio.Future[Any]]]] = (
    weakref.WeakKeyDictionary()
)


async def advice(
    config: Config, http: Outbound, name: str, account: str, conversation: str, inbox: str | None, timeout_s: float
) -> str:
    """Why the token named `name` was refused the conversation, and what to do, as its profile tells."""
    whose = f"{name} (the API token of Chatwoot account {account})"
    where = f"inbox {inbox}" if inbox is not None else f"the inbox of conversation {conversation}"
    member = f"add that user to {where} in Chatwoot, or use an agent bot's token"
    profile = await _cached_profile(config, http, config.secret(name) or "", timeout_s)
    if profile == BOTS_REFUSED:
        bot = f"{whose} is an agent bot's, refused conversation {conversation} in {where}: no user's inbox membership"
        if f"{name} conversations#show" in http.refused_reads:  # a Chatwoot before #14655
            return (
                f"{bot} or role is at stake (adding members changes nothing); this Chatwoot lets a bot see no"
                " conversation: chatwoot/chatwoot#14655 lets an agent bot see every conversation of its account:"
                " upgrade Chatwoot, or post there with an administrator's token"
            )
        return (
            f"{bot} or role is at stake (adding members changes nothing), and this Chatwoot lets an agent bot see the"
            " conversations of its account (chatwoot/chatwoot#14655) yet refused this one: see Chatwoot's log for the"
            " request, or post there with an administrator's token"
        )
    found = _account(profile, account)
    if found is None:
        return (
            f"{whose} was refused conversation {conversation} in {where}: its user is not a member of that inbox (nor of"
            f" the conversation's team), or a custom role (Chatwoot Enterprise) lets it see only some conversations:"
            f" {member}"
        )
    if found.get("role") == "administrator":
        return (
            f"{whose} is an administrator's, refused conversation {conversation} in {where}: Chatwoot lets an"
            " administrator see every conversation, so no inbox membership or role is the cause: see Chatwoot's log for"
            " the request"
        )
    role = found.get("custom_role")
    permissions = role.get("permissions") if isinstance(role, dict) else None
    if found.get("custom_role_id") is not None and isinstance(permissions, list) and MANAGE_ALL not in permissions:
        named = role.get("name") if isinstance(role, dict) else None
        return (
            f"{whose} belongs to an agent whose custom role {named!r} lets it see only the conversations assigned to"
            f" it or in which it takes part (unassigned ones too with conversation_unassigned_manage), unless its user"
            f" is not a member of {where}: give the role {MANAGE_ALL} (manage all conversations) in Chatwoot, or use"
            " an agent bot's token"
        )
    return f"{whose} belongs to a user who is not a member of {where} (nor of the conversation's team): {member}"


async def _cached_profile(config: Config, http: Outbound, token: str, timeout_s: float) -> Any:
    """`_profile`, asked at most once per token every PROFILE_TTL_MS (by the application's clock)."""
    cache = _PROFILES.setdefault(http, {})
    key = (config.hooks.chatwoot.url, hashlib.sha256(token.encode()).hexdigest())
    now = http.now_ms()
    found = cache.get(key)
    if found is None or not 0 <= now - found[0] < PROFILE_TTL_MS:
        for stale in [k for k, (at, _answer) in cache.items() if not 0 <= now - at < PROFILE_TTL_MS]:
            del cache[stale]
        found = cache[key] = (now, asyncio.ensure_future(_profile(config, http, token, timeout_s)))
    return await asyncio.shield(found[1])  # one refusal's cancellation leaves the others theirs


async def _profile(config: Config, http: Outbound, token: str, timeout_s: float) -> Any:
    """The token's profile (parsed JSON), BOTS_REFUSED for an agent bot's token, else None (not known)."""
    url = config.hooks.chatwoot.url.rstrip("/") + PROFILE
    try:
        async with http.session().get(
            url,
            headers={"api_access_token": token},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as resp:
            text = await resp.text(errors="replace")
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
    if resp.status == 401 and BOTS_REFUSED in text:
        return BOTS_REFUSED
    if resp.status != 200:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _account(profile: Any, account: str) -> dict[str, Any] | None:
    """The profile's entry of `account` (the user's role there), else None."""
    accounts = profile.get("accounts") if isinstance(profile, dict) else None
    for entry in accounts if isinstance(accounts, list) else []:
        if isinstance(entry, dict) and str(entry.get("id")) == account:
            return entry
    return None
