"""When an idle period starts and ends, and what a due timer does and says: the decision rules, the phrase
choice, the rendering.

Idle time runs on the conversation's own clock: an agent message's deadline is its `ts` + `idle_seconds`,
however late the message arrives (see docs/followups.md, "Time").
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from assistant.chatwoot import shown_agent, shown_customer
from assistant.clock import QuietHours
from assistant.config import Config
from assistant.followups.reasons import AFTER_SALE, coded
from assistant.followups.situation import Situation
from assistant.followups.store import FireContext
from assistant.followups.timers import Due
from assistant.suggest.phrases import DEFAULT_TYPE, Library

log = logging.getLogger(__name__)

PAID_CLOSING = "followup_paid"  # the intent of a paid conversation's closing (a `followup` follow-up)
# A paid closing that speaks of these presumes a parcel on its way: not for goods that ship none soon.
SHIPPING_WORDS = ("发货", "物流", "快递", "包裹", "签收", "收到宝贝", "收到货", "收到后", "安排上")
# Used when the phrase library has no phrase of the intent (or cannot be loaded).
BUILTIN_PHRASES: tuple[dict[str, Any], ...] = (
    {
        "id": "builtin.followup",
        "intent": "followup",
        "code": "builtin-js",
        "text": "亲，您可以看下我们店铺内有没有您喜欢的商品，有任何问题随时咨询{{ shop }}，我们会为您一一解答~",
    },
    {
        "id": "builtin.followup_paid",
        "intent": "followup_paid",
        "code": "builtin-js-paid",
        # Nothing about shipping: it is also the paid closing of goods that ship no parcel soon (virtual, presale).
        "text": "亲，感谢您的支持~ 有任何问题随时联系{{ shop }}，我们一直都在哦~",
    },
    {
        "id": "builtin.payment_reminder",
        "intent": "payment_reminder",
        "code": "builtin-cf",
        "text": "亲，{{ order }}还没有付款哦，付款后我们会尽快为您安排发货~",
    },
)


class PhraseLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def intent(self) -> str: ...

    @property
    def types(self) -> Sequence[str]: ...

    @property
    def file(self) -> str: ...

    @property
    def shop(self) -> str: ...


class PhraseSource(Protocol):
    """What follow-ups need of a phrase library (assistant.suggest.phrases.Library fits)."""

    def of_intent(self, intent: str, shop: str) -> Sequence[PhraseLike]: ...

    def render(self, phrase_id: str, variables: Mapping[str, str], item: None = None, shop: str = "") -> str: ...


@dataclass(frozen=True)
class Policy:
    """The [followups] settings in the units the decisions use."""

    idle_ms: int
    grace_ms: int
    window_ms: int
    max_per_idle: int
    quiet: QuietHours | None
    quiet_policy: str
    tz: ZoneInfo
    future_ms: int = 300_000  # how far ahead of its receipt a `ts` is still believed
    settle_ms: int = 0  # how long a timer already due when armed (or at start) waits for the rest of a backlog

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        f = config.followups
        return cls(
            idle_ms=f.idle_seconds * 1000,
            grace_ms=f.late_grace_s * 1000,
            window_ms=f.payment_reminder_window_s * 1000,
            max_per_idle=f.max_followups_per_idle,
            quiet=QuietHours.parse(f.quiet_hours),
            quiet_policy=f.quiet_policy,
            tz=config.tz,
            future_ms=config.webhook.signature_tolerance_s * 1000,
            settle_ms=int(f.late_settle_s * 1000),
        )

    @property
    def horizon_ms(self) -> int:
        """How old an event may be stamped and still open an idle period that is not stale."""
        return self.idle_ms + self.grace_ms


def event_time(ts_ms: int, received_ms: int, policy: Policy) -> int:
    """When an event happened, as the idle clock counts: its own `ts`, unless that is further in the future than
    the signature tolerance allows (a clock running ahead): then its receive time + that tolerance, as the log
    keeps it (store.believed), so that later events of the same clock stay in order after it."""
    return received_ms + policy.future_ms if ts_ms > received_ms + policy.future_ms else ts_ms


def is_stale(at_ms: int, now_ms: int, policy: Policy) -> bool:
    """An agent message stamped `at_ms` whose idle period ended more than `late_grace_s` before `now_ms`."""
    return at_ms + policy.idle_ms < now_ms - policy.grace_ms


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Defer:
    due_ms: int


@dataclass(frozen=True)
class Create:
    kind: str
    state: str  # pending | suggested | dropped | missed | stale | cancelled (recorded, never sent: `note` says why)
    next_due: int | None  # the next follow-up of the same idle period, if one is allowed
    note: str | None = None


Decision = Cancel | Defer | Create


def decide(
    ctx: FireContext, due: Due, now_ms: int, policy: Policy, mode: str, situation: Situation = Situation()
) -> Decision:
    """What a timer that came due does, from what the log says about its conversation."""
    kind = kind_for(ctx, situation)
    if isinstance(kind, Cancel):
        return kind
    if kind == "followup" and situation.no_closing:
        # A buyer with goods in hand, a refund or a complaint under way waits for the agent's next step: a goodbye,
        # a thank-you for buying or 收藏店铺 would close the door on an open case.
        return Create(kind, "cancelled", None, coded(AFTER_SALE, word=situation.no_closing))
    more = due.fired + 1 < policy.max_per_idle
    next_due = now_ms + policy.idle_ms if more else None
    # A timer held for a backlog to settle is as late as it was when it was held.
    late_at = min(now_ms, due.not_before - policy.settle_ms) if due.not_before else now_ms
    if late_at - due.due_ms > policy.grace_ms:
        return Create(kind, "missed", None)
    if policy.quiet is not None and policy.quiet.contains(now_ms, policy.tz):
        if policy.quiet_policy == "defer":
            return Defer(policy.quiet.end_after(now_ms, policy.tz))
        return Create(kind, "dropped", next_due)
    return Create(kind, "pending" if mode == "send" else "suggested", next_due)


def kind_for(ctx: FireContext, situation: Situation = Situation()) -> str | Cancel:
    """The follow-up an idle period calls for (a payment reminder while an order is unpaid, unless the buyer asked
    to cancel it), or why none."""
    if ctx.replied:
        return Cancel("customer_replied")
    if situation.handed_over:  # the new agent has not answered yet: their reply opens the next idle period
        return Cancel("handed_over")
    if ctx.unpaid and not situation.cancel:
        return "payment_reminder"
    if ctx.paid:
        return Cancel("paid")
    return "followup"


def choose_phrase(
    source: PhraseSource,
    intent: str,
    customer_type: str | None,
    salt: str,
    excluded: Collection[str] = (),
    shop: str = "",
) -> PhraseLike | None:
    """A phrase of `intent` (but not of the `excluded` ids) for a conversation of `shop`: the shop's own when it
    has some (`[phrases.shops]`), else the shared layers' (a later directory of `[phrases] path`, whose files
    Library.load names `layer/name.toml`: its 结束语 in its words), else the demo's; preferring those written
    for the customer type; stable for a given salt."""
    candidates = [p for p in source.of_intent(intent, shop) if p.id not in excluded]
    if not candidates:
        return None
    candidates = [p for p in candidates if p.shop] or [p for p in candidates if "/" in p.file] or candidates
    ctype = customer_type or DEFAULT_TYPE
    fitting = [p for p in candidates if ctype in p.types]
    general = [p for p in candidates if not p.types]
    pool = fitting or general or candidates
    digest = hashlib.sha256(salt.encode()).digest()
    return pool[int.from_bytes(digest[:4], "big") % len(pool)]


def followup_id(shop: str, conversation: str, armed_event_id: str, n: int) -> str:
    """The idempotency key of the n-th follow-up of the idle period opened by event `armed_event_id`."""
    digest = hashlib.sha256("\x1f".join((shop, conversation, armed_event_id, str(n))).encode()).hexdigest()
    return f"fu-{digest[:32]}"


def library_variables(config: Config) -> dict[str, str]:
    return {**config.phrases.variables, "shop": config.shop.name}


def buyer_variables(ctx: FireContext, shop: str, shop_id: str) -> dict[str, str]:
    """A follow-up's names as the buyer reads them: the agent's without an internal suffix, no contact id."""
    agent, customer = ctx.agent or "", ctx.customer or ""
    return {"shop": shop, "agent": shown_agent(shop_id, agent), "customer": nickname(shown_customer(shop_id, customer))}


# An event's `customer` is "the buyer's id or nick": these read as an id (u1029384756, tb_buyer, 138****1111, a mail).
_ACCOUNT_ID = re.compile(r"[\d\s+*()-]+|[A-Za-z0-9_.@-]*\d[A-Za-z0-9_.@-]*|tb[_-].*|.*@.*", re.IGNORECASE)


def nickname(customer: str) -> str:
    """`customer` when it reads as a nickname (开心果, Lily, 小美88), else "" (the phrase's neutral 亲): never a
    platform id, a phone number or a mail address written into the chat."""
    return "" if _ACCOUNT_ID.fullmatch(customer.strip()) else customer


def compose(
    kind: str,
    ctx: FireContext,
    salt: str,
    sources: Sequence[PhraseSource | None],
    name: str,
    shop: str = "",
    situation: Situation = Situation(),
) -> tuple[str | None, str]:
    """The phrase for `kind` from the first source that has one, rendered with the conversation's variables
    (`name`: `{{ shop }}`, the name of the conversation's shop `shop`, whose own phrases come first)."""
    variables = buyer_variables(ctx, name, shop)
    if ctx.unpaid:
        order = ctx.unpaid[0]
        variables["order"] = f"订单{order.order_id}"
        if order.amount is not None:
            variables["amount"] = f"{order.amount:.2f}"
    # A conversation whose order is paid closes with thanks, not with a type's pitch to buy (from the built-in
    # phrase when the library has none of that intent).
    intents = (PAID_CLOSING, kind) if kind == "followup" and ctx.bought else (kind,)
    said = {plain(text) for text in ctx.said}
    for intent in intents:
        for source in sources:
            if source is None:
                continue
            # Never word for word what the conversation already got (the agent's quick phrase, our last closing),
            # unless every phrase of the intent was said.
            first: tuple[str, str] | None = None
            excluded = unfit(source, intent, variables, situation, shop)
            while (phrase := choose_phrase(source, intent, ctx.customer_type, salt, excluded, shop)) is not None:
                text = source.render(phrase.id, variables, shop=phrase.shop)
                if plain(text) not in said:
                    return phrase.id, text
                first = first or (phrase.id, text)
                excluded.add(phrase.id)
            if first is not None:
                return first
    raise LookupError(f"no phrase of intent {kind!r}")


def unfit(
    source: PhraseSource, intent: str, variables: Mapping[str, str], situation: Situation, shop: str = ""
) -> set[str]:
    """The phrases of `intent` that would say something untrue here: for goods that ship no parcel soon (a 会员卡,
    a top-up, a presale item), the paid closings that speak of shipping or of the parcel's arrival."""
    if intent != PAID_CLOSING or not situation.no_parcel:
        return set()
    return {
        p.id
        for p in source.of_intent(intent, shop)
        if any(w in source.render(p.id, variables, shop=p.shop) for w in SHIPPING_WORDS)
    }


def plain(text: str) -> str:
    """Text compared for sameness: without white space."""
    return "".join(text.split())


def closings(ctx: FireContext, sources: Sequence[PhraseSource | None], name: str, shop: str = "") -> set[str]:
    """The library's closings (intents `followup`, `followup_paid`) as this conversation (of `shop`, named
    `name`) would get them, plain."""
    variables = buyer_variables(ctx, name, shop)
    found: set[str] = set()
    for source in sources:
        if source is None:
            continue
        for p in (*source.of_intent("followup", shop), *source.of_intent(PAID_CLOSING, shop)):
            try:
                found.add(plain(source.render(p.id, variables, shop=p.shop)))
            except Exception:  # a closing needing a variable a closing does not get (an order): not one
                log.warning("closing phrase %s does not render without an order", p.id, exc_info=True)
    return found


def builtin_phrases(config: Config) -> PhraseSource:
    """The minimal pair used when the library has no phrase of an intent."""
    return Library.build(
        [("builtin", {"group": "builtin", "phrase": list(BUILTIN_PHRASES)})], extra_variables=library_variables(config)
    )
