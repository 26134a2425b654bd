"""What a conversation's own words say about the follow-up a due timer may send: the buyer's after-sale talk,
complaint or request to cancel, goods that ship no parcel soon (virtual goods, top-ups, presale), and a hand-over
to another agent since the arming message.

`read` takes it from the log in the firing transaction; `judge` weighs the words with the phrase library's own
(the intents' key words, as the matcher finds them), so a shop's synonyms and word rules count here too.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.catalog.links import item_in
from assistant.followups.store import EVENT_TIME_SQL
from assistant.pg.pipeline import Batch, Sent
from assistant.suggest.keywords import WordFinder, WordRules
from assistant.suggest.phrases import Library
from assistant.suggest.textnorm import Normalizer

LAST_WORDS = 3  # the buyer's latest messages that say what the conversation is about now
LOOKBACK = 50  # messages searched for the conversation's item, as catalog/focus.py does
# The intents whose key words (strong and plain, not weak) make the buyer's latest words after-sale talk.
AFTER_SALE_INTENTS = ("return_exchange", "refund", "quality_issue")
COMPLAINT_INTENTS = ("complaint",)
CANCEL_INTENTS = ("refund",)  # 取消订单, 拍错, 不要了, 不买了 … said of an order not paid yet
# Goods received: the customer-type `ordered` cues that mean the parcel arrived (收到了 reads "noted" too, and a
# buyer who says it after the agent's shipping news loses only a thank-you).
RECEIVED = ("收到了", "收到货", "收到宝贝", "已收到", "刚收到", "到货了", "货到了", "已签收")
# Goods that ship no parcel soon, named by the item's title or facts or by either side: the `recharge` intent's
# key words (卡密, 充值, 兑换码 …) and these, found anywhere in the text as a phrase's `goods` are.
NO_PARCEL = ("会员卡", "月卡", "季卡", "年卡", "虚拟", "电子券", "卡券", "预售", "定金")
NO_PARCEL_INTENTS = ("recharge",)
DEMANDING = "demanding"
# The buyer declining what a word names (不用退款了, 不想取消了, 退货就算了, 我不投诉了): the word does not count.
# 没 and a bare 不 are not enough (还没退款 and 不退款吗 are after-sale talk); 要不要 and 需不需要 ask.
_DECLINED_BEFORE = re.compile(
    r"(?:(?<!用)不用|(?<!要)不要|无需|不必|(?<!想)不想|(?<!需)不需要|不打算|用不着|别)(?:再|先|去|给我|帮我|申请)?$"
)
_DECLINED_AFTER = re.compile(r"(?:的话|就|也|还是)?(?:不用了|算了|就算了|不需要了|不要了|不弄了|不办了)")


@dataclass(frozen=True)
class Talk:
    """What the log says beyond the FireContext: words, the item, an assignment after the arming message."""

    buyer: tuple[str, ...] = ()  # the buyer's latest messages (after the latest recent payment, if any), oldest first
    others: tuple[str, ...] = ()  # the agent's recent words, the item's title and facts
    handed_over: bool = False  # assigned to another agent after the arming message


@dataclass(frozen=True)
class Situation:
    """The judged words: each field holds the word that shows it, or ""."""

    after_sale: str = ""
    complaint: str = ""
    cancel: str = ""
    no_parcel: str = ""
    handed_over: bool = False

    @property
    def no_closing(self) -> str:
        """Why no closing fits (the word that shows an after-sale case or a complaint), or ""."""
        return self.complaint or self.after_sale


class TalkReads:
    """The reads of a firing timer's Talk, sent together (`send_talk`): once they are in, the item a message named
    (`item`), whose catalog row is read next (`send_item`), then the Talk."""

    def __init__(self, buyer: Sent, assigned: Sent, items: Sent) -> None:
        self._buyer = buyer
        self._assigned = assigned
        self._items = items

    def item(self) -> str | None:
        """The catalog item the conversation's latest message naming one named (its raw `item`, else a link)."""
        for raw, text in self._items.fetchall():
            item = json.loads(raw).get("item")
            found = item if isinstance(item, str) and item else item_in(text)
            if found:
                return str(found)
        return None

    def talk(self, agent_words: Iterable[str], item: Sent | None) -> Talk:
        """The Talk, with the item's title and facts (`item`: its catalog row as `send_item` read it, if one)."""
        buyer = tuple(reversed([row[0] for row in self._buyer.fetchall()]))
        handed_over = any(new != old for new, old in self._assigned.fetchall())
        row = item.fetchone() if item is not None else None
        facts = () if row is None else (row[0], row[1])
        return Talk(buyer=buyer, others=(*agent_words, *facts), handed_over=handed_over)


def send_talk(
    batch: Batch, shop: str, conversation: str, armed_seq: int, armed_ms: int, since_ms: int, future_ms: int
) -> TalkReads:
    """Send the reads of the conversation's words since `since_ms` (the payment reminder window) and of its item."""
    # The buyer's latest words, after the latest payment in the window if there is one.
    buyer = batch.execute(
        "SELECT text FROM messages WHERE shop = ? AND conversation = ? AND sender = 'customer' AND ts_ms >= coalesce("
        "(SELECT max(paid_ms) FROM orders WHERE shop = ? AND conversation = ? AND paid_ms >= ?), ?)"
        " ORDER BY ts_ms DESC, seq DESC LIMIT ?",
        (shop, conversation, shop, conversation, since_ms, since_ms, LAST_WORDS),
    )
    params = {"shop": shop, "conversation": conversation, "ms": armed_ms, "seq": armed_seq, "future": future_ms}
    assigned = batch.execute(
        "SELECT e.agent, a.agent FROM events e JOIN events a ON a.seq = :seq WHERE e.shop = :shop"
        " AND e.conversation = :conversation AND e.ts_ms >= :ms AND e.type = 'conversation_assigned'"
        f" AND ({EVENT_TIME_SQL}, e.seq) > (:ms, :seq)",
        params,
    )
    items = batch.execute(
        "SELECT e.raw, m.text FROM messages m JOIN events e ON e.seq = m.seq WHERE m.shop = ? AND m.conversation = ?"
        " AND (json_extract(e.raw, '$.item') IS NOT NULL OR m.text LIKE '%taobao.com%' OR m.text LIKE '%tmall.%')"
        " ORDER BY m.seq DESC LIMIT ?",
        (shop, conversation, LOOKBACK),
    )
    return TalkReads(buyer, assigned, items)


def send_item(batch: Batch, item: str) -> Sent:
    """Send the read of a catalog item's title and facts."""
    return batch.execute("SELECT title, attrs FROM catalog_items WHERE item_id = ?", (item,))


@dataclass(frozen=True)
class _Words:
    normalizer: Normalizer
    finders: dict[str, WordFinder[str]]
    no_parcel: tuple[str, ...]


@lru_cache(maxsize=4)
def _words(library: Library) -> _Words:
    """The library's words for each judgement, built once per library (a reload makes a new one)."""
    normalizer = Normalizer(library.normalization)
    # Its caches make reference cycles: released when the library goes (a reload, then 4 more), so that reference
    # counting frees it (`Matcher.release`: a reload does not collect the frozen heap).
    weakref.finalize(library, normalizer.release)
    rules = WordRules(library.words, normalizer)

    def finder(intents: Sequence[str], extra: Iterable[str] = ()) -> WordFinder[str]:
        words = [w for i in intents if (spec := library.intents.get(i)) for w in (*spec.strong, *spec.keywords)]
        return WordFinder(((w, w) for w in (*words, *extra)), normalizer, rules)

    virtual = [w for i in NO_PARCEL_INTENTS if (spec := library.intents.get(i)) for w in (*spec.strong, *spec.keywords)]
    no_parcel = tuple(dict.fromkeys(f for f in (normalizer.normalize(w) for w in (*virtual, *NO_PARCEL)) if f))
    finders = {
        "after_sale": finder(AFTER_SALE_INTENTS, RECEIVED),
        "complaint": finder(COMPLAINT_INTENTS),
        "cancel": finder(CANCEL_INTENTS),
    }
    return _Words(normalizer, finders, no_parcel)


def judge(talk: Talk, customer_type: str | None, library: object) -> Situation:
    """The situation `talk` shows, by the words of `library` (no library of words: only the hand-over and a
    demanding customer type count)."""
    complaint = DEMANDING if customer_type == DEMANDING else ""
    if not isinstance(library, Library):
        return Situation(complaint=complaint, handed_over=talk.handed_over)
    words = _words(library)

    def first(label: str, texts: Iterable[str]) -> str:
        for text in texts:
            analysis = words.normalizer.analyze(text)
            found = words.finders[label].find(analysis)
            # A word overlapping a declined one is declined with it (想退 in 不想退货了).
            declined = [(f.start, f.end) for f in found if _declined(analysis.compact, f.start, f.end)]
            for f in found:
                if not any(f.start < end and start < f.end for start, end in declined):
                    return f.term.raw
        return ""

    said = "|".join(words.normalizer.normalize(t) for t in (*talk.buyer, *talk.others))
    return Situation(
        after_sale=first("after_sale", talk.buyer),
        complaint=complaint or first("complaint", talk.buyer),
        cancel=first("cancel", talk.buyer),
        no_parcel=next((w for w in words.no_parcel if w in said), ""),
        handed_over=talk.handed_over,
    )


def _declined(compact: str, start: int, end: int) -> bool:
    """Whether the buyer declines the word at `compact[start:end]` (不用退款了, 退货就算了, 不投诉了)."""
    before = compact[:start]
    if _DECLINED_BEFORE.search(before) or _DECLINED_AFTER.match(compact, end):
        return True
    return before.endswith("不") and compact.startswith("了", end)
