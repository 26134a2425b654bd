"""A local Chatwoot for end-to-end tests: the message API as Chatwoot's own code answers it, and its webhooks.

`POST /api/v1/accounts/{account}/conversations/{conversation}/messages` is checked as Chatwoot checks it:
the `api_access_token` header (`AccessTokenAuthHelper`: 401 `Invalid Access Token`), the account the token
belongs to (401), the conversation looked up by its display id in that account (`find_by!(display_id:)`: 404),
then `Messages::MessageBuilder`'s parameters: `message_type` `outgoing` or `template` (`incoming` only in
API inboxes; anything else 422), `private` a boolean, `content_attributes` a hash or a JSON string (kept as
given, any keys), `content` a string of at most 150,000 characters, present unless there are attachments.
Every create makes a new message (Chatwoot does not deduplicate). With `bot` the tokens are agent bots':
`AccessTokenAuthHelper` lets a bot call only `messages#create` (BOT_ACCESSIBLE_ENDPOINTS; any other endpoint 401
`Access to this endpoint is not authorized for bots`), and a bot is refused in an account it does not belong to
(401 `Bot is not authorized to access this account`). `more_tokens` adds tokens of other accounts (token →
account). `fail_next` answers the next creates with those statuses and creates nothing: a 429 as Rack::Attack's
default responder answers Chatwoot's throttles (config/initializers/rack_attack.rb sets no responder: `text/plain`
"Retry later", no `Retry-After`), a 301 as a proxy in front sends plain http to https (the same URL), a 302 as a
login page in front of Chatwoot does (to `/auth/sign_in`, whose visits are kept in `login_visits`), a 200 as a proxy's
page answered in Chatwoot's place (HTML), any other as Chatwoot's JSON error. `mangled_next` creates that many
messages, then answers with that HTML page (a proxy rewrote Chatwoot's answer). `GET` on the same path lists the latest 20
messages oldest first, or the 20 before `?before=<id>`, or up to 100 after `?after=<id>`, as
`{"meta": {...}, "payload": [...]}` with `message_type` as its number and `created_at` in epoch seconds
(MessageFinder and `messages/index.json.jbuilder`).

With `webhook_url` set, each created message is delivered back as `message_created` in the shape of
`Message#webhook_data`, signed as `lib/webhooks/trigger.rb` signs, with a fresh `X-Chatwoot-Delivery`: the echo
Chatwoot sends of every message, whoever posted it, private notes too (`Message#webhook_sendable?` ignores
`private`). Its `sender` is the token's owner (`AgentBot#webhook_data`, or `User#webhook_data` of an
administrator for a user's token) and its conversation's `meta.assignee` whoever `assignee` names now
(`User#push_event_data`; None: unassigned). `delete` re-delivers a message as `MessagesController#destroy`
leaves it. `channel_error` makes the channel refuse every message after Chatwoot created it (its send service's
`message.update!(status: :failed, external_error: …)`): `message_created`, then `message_updated` carrying
`content_attributes.external_error`, our keys kept, delivered in that order; `fail_delivery` does it later to one,
and `retry` retries a failed one as an agent does in Chatwoot.
Deleting a conversation is taking its display id out of `conversations` (its creates then answer 404), and
revoking or rotating the token taking it out of `tokens` (401).

`GET /api/v1/accounts/{account}/conversations/{conversation}` answers the conversation (`show`: its `status`,
`inbox_id`…), refused to a bot's token (not among BOT_ACCESSIBLE_ENDPOINTS) unless `bot_reads`: Chatwoot since
chatwoot/chatwoot#14655 (merged 2026-06-05, after 4.15.0) lists `show` among them (with `labels#index`, `labels#create`;
`messages#index` still not), and `ConversationPolicy#show?` lets any agent bot of the account see any of its
conversations (`administrator? || agent_bot? || …`), so a bot's token reads the conversation as an administrator's does.
`PATCH` on that path is `ConversationsController#update`, which every agent bot may call: it saves the `priority` it is
given (the only parameter it permits) and answers the conversation as `show` does (`update.json.jbuilder` renders the
same partial); the bodies it got are kept in `updates`. `statuses` sets a conversation's status
(open unless set; an agent resolves it in Chatwoot, its webhook lost): a message created in it leaves it so
(`Message#reopen_conversation` reopens for an incoming message only). `members` makes a token an agent's (not an
administrator's), a member of those inboxes only (`inbox_of`: a conversation's inbox, 7 unless set): after the
conversation is found, `ConversationPolicy#show?` refuses it any other inbox's, and `RequestExceptionHandler` answers
the `Pundit::NotAuthorizedError` 401 `You are not authorized to do this action`. `retry_after` gives each 429 a
`Retry-After` (Rack::Attack with `throttled_response_retry_after_header`, or a proxy in front that adds one).
`custom_roles` gives a token's user a custom role (Chatwoot Enterprise's `Enterprise::ConversationPolicy#show?`): a
conversation is refused as above unless the role has `conversation_manage`, or `conversation_unassigned_manage` and
it is unassigned, or `conversation_participating_manage` and it is assigned to the token's user (ADMIN's id).
`GET /api/v1/profile` answers the token's user as `api/v1/models/_user.json.jbuilder` renders it (in part: its
`accounts` with each one's `role`, and Enterprise's `custom_role_id` and `custom_role`), and refuses a bot's token as
any endpoint outside BOT_ACCESSIBLE_ENDPOINTS.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from assistant.signing import sign

MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}
MAX_CONTENT = 150_000
ACCOUNT = {"id": 3, "name": "示例旗舰店"}
INBOX = {"id": 7, "name": "官网客服"}
BOT = {"id": 2, "name": "客服助手", "type": "agent_bot"}  # AgentBot#webhook_data of the token's bot
ADMIN = {"id": 1, "name": "店长", "email": "owner@example.com", "type": "user"}  # User#webhook_data of a user's token
PROXY_PAGE = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>"
MEILING = {"id": 12, "name": "张美玲", "available_name": "小美", "type": "user"}  # User#push_event_data


class FakeChatwoot:
    """Stores messages per conversation; `delay_before_s` / `delay_after_s` make it a slow receiver."""

    def __init__(
        self,
        token: str,
        *,
        delay_before_s: float = 0.0,
        delay_after_s: float = 0.0,
        account: str = "3",
        conversations: tuple[str, ...] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        bot: bool = False,
        bot_reads: bool = False,
        more_tokens: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.bot = bot
        self.bot_reads = bot_reads  # a Chatwoot whose BOT_ACCESSIBLE_ENDPOINTS has conversations#show
        self.tokens = {token: account, **(more_tokens or {})}  # token → the account it belongs to
        self.profiles_asked = 0  # GET /api/v1/profile requests
        self.fail_next: list[int] = []
        self.channel_error: str | None = None  # the channel refuses every message Chatwoot creates, for this reason
        self.delay_before_s = delay_before_s
        self.delay_after_s = delay_after_s
        self.account = account
        self.conversations = conversations  # display ids that exist (None: any)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.messages: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.started: list[tuple[str, str]] = []  # (account, conversation) of every create request received
        self.refused: list[tuple[int, str]] = []  # (status, why) of every request Chatwoot would refuse
        self.deliveries: list[tuple[int, dict[str, Any]]] = []  # (assistant's status, payload) of each webhook
        self.lists = 0
        self.mangled_next = 0
        self.login_visits: list[dict[str, str]] = []  # the headers of each visit to the login page
        self.assignee: dict[str, Any] | None = MEILING  # the conversations' assignee in the echoes
        self.statuses: dict[str, str] = {}  # display id → status (open unless set)
        self.inbox_of: dict[str, int] = {}  # display id → inbox id (INBOX's unless set)
        self.members: dict[str, set[int]] = {}  # an agent's token → the inboxes its user is a member of
        self.custom_roles: dict[str, dict[str, Any]] = {}  # an agent's token → its custom role (id, name, permissions)
        self.retry_after: str | None = None  # each 429's `Retry-After`
        self.looks = 0  # conversations shown (GET, or PATCH answered as a show)
        self.updates: list[Any] = []  # the body of each PATCH
        self.priorities: dict[str, Any] = {}  # display id → the priority a PATCH set
        self._ids = itertools.count(1001)
        self._echoes: set[asyncio.Task[None]] = set()
        self.server: TestServer | None = None

    def _refuse(self, status: int, error: str) -> web.Response:
        self.refused.append((status, error))
        return web.json_response({"error": error}, status=status)

    def _check_access(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("api_access_token")
        if token not in self.tokens:
            return self._refuse(401, "Invalid Access Token")
        action = request.match_info.route.name
        if self.bot and action not in ("create", "update") and not (self.bot_reads and action == "show"):
            return self._refuse(401, "Access to this endpoint is not authorized for bots")
        if request.match_info["account"] != self.tokens[token]:
            if self.bot:
                return self._refuse(401, "Bot is not authorized to access this account")
            return self._refuse(401, "You are not authorized to access this account")
        known = self.conversations
        conversation = request.match_info["conversation"]
        if known is not None and conversation not in known:
            return self._refuse(404, "Resource could not be found")
        if token in self.members and self.inbox_of.get(conversation, INBOX["id"]) not in self.members[token]:
            return self._refuse(401, "You are not authorized to do this action")
        if token in self.custom_roles and not self._role_permits(self.custom_roles[token]["permissions"]):
            return self._refuse(401, "You are not authorized to do this action")
        return None

    def _role_permits(self, permissions: list[str]) -> bool:
        if "conversation_manage" in permissions:
            return True
        if self.assignee is None and "conversation_unassigned_manage" in permissions:
            return True
        return "conversation_participating_manage" in permissions and (self.assignee or {}).get("id") == ADMIN["id"]

    async def profile(self, request: web.Request) -> web.Response:
        """`ProfilesController#show`: the token's user, with the role it has in each of its accounts."""
        self.profiles_asked += 1
        token = request.headers.get("api_access_token")
        if token not in self.tokens:
            return self._refuse(401, "Invalid Access Token")
        if self.bot:
            return self._refuse(401, "Access to this endpoint is not authorized for bots")
        role = self.custom_roles.get(token)
        agent = token in self.members or role is not None
        account = {"id": int(self.tokens[token]), "role": "agent" if agent else "administrator",
                   "custom_role_id": None if role is None else role["id"], "custom_role": role}  # fmt: skip
        return web.json_response({"id": ADMIN["id"], "name": ADMIN["name"], "type": "User", "accounts": [account]})

    async def show(self, request: web.Request, *, checked: bool = False) -> web.Response:
        """`ConversationsController#show`: the conversation as `_conversation.json.jbuilder` renders it (in part)."""
        refused = None if checked else self._check_access(request)
        if refused is not None:
            return refused
        self.looks += 1
        account, conversation = request.match_info["account"], request.match_info["conversation"]
        messages = self.messages.get((account, conversation), [])
        return web.json_response(
            {
                "id": int(conversation),
                "account_id": int(account),
                "inbox_id": self.inbox_of.get(conversation, INBOX["id"]),
                "status": self.statuses.get(conversation, "open"),
                "meta": {"sender": {"id": 501, "name": "王小姐", "type": "contact"}, "assignee": self.assignee},
                "messages": messages[-1:],
                "timestamp": messages[-1]["created_at"] if messages else int(time.time()),
                "unread_count": 0,
            }
        )

    async def update(self, request: web.Request) -> web.Response:
        """`ConversationsController#update`: `priority` saved when given, then the conversation as `show` renders it."""
        refused = self._check_access(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.updates.append(body)
        if "priority" in body:
            self.priorities[request.match_info["conversation"]] = body["priority"]
        return await self.show(request, checked=True)

    async def create(self, request: web.Request) -> web.Response:
        refused = self._check_access(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return self._refuse(400, "body is not JSON")
        problem = _check_body(body)
        if problem is not None:
            return self._refuse(422, problem)
        key = (request.match_info["account"], request.match_info["conversation"])
        self.started.append(key)
        if self.fail_next:
            status = self.fail_next.pop(0)
            if status == 429:
                headers = {"Retry-After": self.retry_after} if self.retry_after is not None else None
                return web.Response(status=429, text="Retry later\n", content_type="text/plain", headers=headers)
            if status in (301, 302):
                target = str(request.url) if status == 301 else f"{self.url}/auth/sign_in?return_to={request.path}"
                return web.Response(status=status, headers={"Location": target}, text="Moved")
            if status == 200:
                return web.Response(text=PROXY_PAGE, content_type="text/html")
            return web.json_response({"error": f"failed with {status}"}, status=status)
        await asyncio.sleep(self.delay_before_s)  # a slow Chatwoot: the message is not there yet
        attributes = body.get("content_attributes") or {}
        if isinstance(attributes, str):
            attributes = json.loads(attributes)
        message = {
            "id": next(self._ids),
            "content": body.get("content"),
            "inbox_id": INBOX["id"],
            "conversation_id": int(key[1]) if key[1].isdigit() else key[1],
            "message_type": MESSAGE_TYPES[body.get("message_type", "outgoing")],
            "content_type": "text",
            "status": "sent",
            "content_attributes": attributes,
            "created_at": int(time.time()),
            "private": bool(body.get("private", False)),
            "source_id": None,
        }
        self.messages.setdefault(key, []).append(message)
        if self.channel_error is not None and not message["private"]:
            created = webhook_data(key, message, "message_created", BOT if self.bot else ADMIN, self.assignee)
            self._failed(message, self.channel_error)
            self._echo(key, message, "message_updated", before=created)
        else:
            self._echo(key, message, "message_created")
        await asyncio.sleep(self.delay_after_s)  # stored, the answer still on its way
        if self.mangled_next:
            self.mangled_next -= 1
            return web.Response(text=PROXY_PAGE, content_type="text/html")
        return web.json_response(message)

    async def login(self, request: web.Request) -> web.Response:
        self.login_visits.append(dict(request.headers))
        return web.Response(text=PROXY_PAGE, content_type="text/html")

    async def index(self, request: web.Request) -> web.Response:
        refused = self._check_access(request)
        if refused is not None:
            return refused
        self.lists += 1
        stored = self.messages.get((request.match_info["account"], request.match_info["conversation"]), [])
        ordered = sorted(stored, key=lambda m: (m["created_at"], m["id"]))
        if "before" in request.query:
            before = int(request.query["before"])
            page = [m for m in ordered if m["id"] < before][-20:]
        elif "after" in request.query:
            after = int(request.query["after"])
            page = [m for m in ordered if m["id"] > after][:100]
        else:
            page = ordered[-20:]
        meta: dict[str, Any] = {
            "labels": [],
            "additional_attributes": {},
            "contact": {"id": 501},
            "agent_last_seen_at": None,
        }
        return web.json_response({"meta": meta, "payload": page})

    def delete(self, account: str, conversation: str, message_id: int) -> None:
        """An agent deletes a message in Chatwoot: its content and attributes replaced, then re-delivered."""
        message = next(m for m in self.messages[(account, conversation)] if m["id"] == message_id)
        message.update(content="This message was deleted", content_attributes={"deleted": True})
        self._echo((account, conversation), message, "message_updated")

    def fail_delivery(self, account: str, conversation: str, message_id: int, error: str) -> None:
        """The channel refuses a message Chatwoot created: it is marked failed, then re-delivered."""
        message = next(m for m in self.messages[(account, conversation)] if m["id"] == message_id)
        self._failed(message, error)
        self._echo((account, conversation), message, "message_updated")

    def retry(self, account: str, conversation: str, message_id: int) -> list[dict[str, Any]]:
        """An agent retries a failed message (`MessagesController#retry`'s `claim_message_retry`): its status set
        to sent (`external_error` still kept), then its `content_attributes` without `external_error`, each
        re-delivered; the channel then delivers it (`SendReplyJob`, then the channel's receipt: status delivered).
        The three payloads, in the order Chatwoot dispatched them."""
        message = next(m for m in self.messages[(account, conversation)] if m["id"] == message_id)
        assert message["status"] == "failed"
        kept = {k: v for k, v in message["content_attributes"].items() if k != "external_error"}
        payloads = []
        for change in ({"status": "sent"}, {"content_attributes": kept}, {"status": "delivered"}):
            message.update(change, updated_at=_now_iso())
            payloads.append(self._echo((account, conversation), message, "message_updated"))
        return payloads

    @staticmethod
    def _failed(message: dict[str, Any], error: str) -> None:
        # `external_error` is a store accessor of content_attributes: the other keys stay.
        attributes = {**message["content_attributes"], "external_error": error}
        message.update(status="failed", content_attributes=attributes, updated_at=_now_iso())

    def _echo(
        self, key: tuple[str, str], message: dict[str, Any], event: str, *, before: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Deliver `message` as `event` (after the payload `before`, in that order), in the background; the
        payload."""
        sender = BOT if self.bot else ADMIN
        payload = webhook_data(key, message, event, sender, self.assignee)
        payload["conversation"]["status"] = self.statuses.get(key[1], "open")
        if self.webhook_url is None:
            return payload
        payloads = [p for p in (before, payload) if p is not None]
        task = asyncio.ensure_future(self._deliver_all(payloads))
        self._echoes.add(task)
        task.add_done_callback(self._echoes.discard)
        return payload

    async def _deliver_all(self, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            await self._deliver(payload)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        assert self.webhook_url is not None
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Chatwoot-Delivery": str(uuid.uuid4()),
            "X-Chatwoot-Timestamp": str(stamp),
            "X-Chatwoot-Signature": sign(self.webhook_secret, stamp, body),
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(self.webhook_url, data=body, headers=headers) as resp:
                self.deliveries.append((resp.status, payload))

    def followups(self, account: str, conversation: str) -> list[str]:
        """The follow-up ids of the messages a conversation holds, in order (a repeat is a duplicate)."""
        return [
            m["content_attributes"]["assistant_followup_id"]
            for m in self.messages.get((account, conversation), [])
            if "assistant_followup_id" in m["content_attributes"]
        ]

    async def start(self) -> FakeChatwoot:
        app = web.Application()
        path = "/api/v1/accounts/{account}/conversations/{conversation}/messages"
        app.router.add_post(path, self.create, name="create")
        app.router.add_get(path, self.index)
        app.router.add_get("/api/v1/accounts/{account}/conversations/{conversation}", self.show, name="show")
        app.router.add_patch("/api/v1/accounts/{account}/conversations/{conversation}", self.update, name="update")
        app.router.add_get("/auth/sign_in", self.login)
        app.router.add_get("/api/v1/profile", self.profile)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def close(self) -> None:
        if self._echoes:
            await asyncio.gather(*self._echoes, return_exceptions=True)
        if self.server is not None:
            await self.server.close()


def _check_body(body: Any) -> str | None:
    """What Messages::MessageBuilder and the Message validations refuse, else None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    message_type = body.get("message_type", "outgoing")
    if message_type not in ("outgoing", "template"):
        return f"message_type {message_type!r} is not allowed here (incoming only in API inboxes)"
    if not isinstance(body.get("private", False), bool):
        return "private must be a boolean"
    attributes = body.get("content_attributes", {})
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return "content_attributes is not JSON"
    if not isinstance(attributes, dict):
        return "content_attributes must be a hash"
    content = body.get("content")
    if content is None and not body.get("attachments"):
        return "content can't be blank"
    if content is not None and (not isinstance(content, str) or len(content) > MAX_CONTENT):
        return f"content must be a string of at most {MAX_CONTENT} characters"
    return None


def _now_iso() -> str:
    """A time as `push_event_data` gives a message's `updated_at`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_data(
    key: tuple[str, str],
    message: dict[str, Any],
    event: str,
    sender: dict[str, Any] = BOT,
    assignee: dict[str, Any] | None = MEILING,
) -> dict[str, Any]:
    """`Message#webhook_data` of a message the token's owner (`sender`) posted, with the event name."""
    created = datetime.fromtimestamp(message["created_at"], UTC).isoformat(timespec="milliseconds")
    account = ACCOUNT if key[0] == str(ACCOUNT["id"]) else {"id": int(key[0]), "name": f"account {key[0]}"}
    return {
        "account": account,
        "additional_attributes": {},
        "content_attributes": message["content_attributes"],
        "content_type": "text",
        "content": message["content"],
        "conversation": {
            "id": int(key[1]) if key[1].isdigit() else key[1],
            "inbox_id": INBOX["id"],
            "account": account,
            "status": "open",
            "meta": {
                "sender": {"id": 501, "name": "王小姐", "type": "contact"},
                "assignee": assignee,
                "assignee_type": "User" if assignee else None,
            },
            # The last chat message: a private note is never it (Conversation#webhook_data's `messages`).
            "messages": [] if message["private"] else [{**message, "account_id": account["id"]}],
            "timestamp": message["created_at"],
            # `belongs_to :conversation, touch: true`: a message's change is its conversation's.
            "updated_at": _touched(message),
        },
        "created_at": created.replace("+00:00", "Z"),
        "id": message["id"],
        "inbox": INBOX,
        "message_type": {v: k for k, v in MESSAGE_TYPES.items()}[message["message_type"]],
        "private": message["private"],
        "sender": sender,
        "source_id": None,
        "event": event,
    }


def _touched(message: dict[str, Any]) -> float:
    """When a message last changed, as its conversation's `updated_at` (a float epoch) says it."""
    if "updated_at" not in message:
        return float(message["created_at"])
    return datetime.fromisoformat(message["updated_at"].replace("Z", "+00:00")).timestamp()
