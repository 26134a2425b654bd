"""The day's inspection (质检日报): each agent's findings, their deductions and score, from the daily log.

Two kinds of finding: a message's flags (the rules of `phrases/qa.toml`, logged as the message arrived) and the
service norms a conversation's log can judge: the first reply later than `[qa] first_response_s`, an agent's
average reply in a conversation over `[qa] average_response_s`, a buyer's question left without a reply, a
first reply without a greeting (欢迎语) and a conversation an agent ended without a closing (结束语). Each finding costs its category's or check's points
(`[qa] deductions`, else the built-in table); an agent's score is 100 less them, never below 0.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from assistant.clock import day_bounds
from assistant.config import Config, ConfigError, QaConfig
from assistant.config.norms import COURTESY_WORDS
from assistant.daylog.query import Conversation, DayQuery, Item, Rules, iter_conversations, iter_items
from assistant.i18n import N_, _
from assistant.qa.rules import Category
from assistant.qa.store import carried_on
from assistant.safetext import format_table, terminal

# The norms the log can judge, by id: the label a supervisor reads (translated) and the points of a finding.
CHECKS: dict[str, tuple[str, float]] = {
    "no_greeting": (N_("no greeting"), 1.0),
    "first_response": (N_("first reply late"), 2.0),
    "average_response": (N_("average reply slow"), 2.0),
    "unanswered": (N_("question left unanswered"), 5.0),
    "no_closing": (N_("no closing words"), 1.0),
}
# A category's points when the shop names none: by how bad its findings are; a buyer's flags cost the agent nothing.
SEVERITY_POINTS = {"high": 5.0, "medium": 3.0, "low": 1.0}
SHOWN = 5  # findings of one rule an agent's part of the text shows (42 短回复 of 嗯嗯 and ok hid the rest)
UNSERVED = ""  # the findings of a conversation no agent wrote in
CLOSING_DELIVERY_MS = 60_000  # a follow-up due at the end of the idle time may take this long to be sent and logged
CLOSING_LOOKBACK = 3  # a closing in any of the agent's last replies of the conversation counts
# An agent's reply handing the conversation over (转接): the colleague taking it owes the goodbye, not them.
HANDOVER_WORDS = ("转接", "转交", "转给同事", "转给售后", "转给专员", "转给主管", "转给客服")
# A buyer whose latest words report a fault or complain (the matcher's intent as logged) waits for the agent's next
# step (a photo asked for, a replacement): a goodbye closes the door on an open case, and the follow-up sends none
# (docs/followups.md). Not return_exchange or refund: 保修多久 is asked before buying, and a return explained is done.
OPEN_CASE_INTENTS = ("quality_issue", "complaint")
BUYER_LAST_WORDS = 3
_QUESTION_MARK = re.compile(r"[?？]")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)  # a link's ? asks nothing (item.htm?id=…)
# A buyer's message of courtesy alone, as `_compact` leaves it (a sticker leaves nothing): longest words first.
_COURTESY = re.compile("(?:" + "|".join(re.escape(w) for w in sorted(COURTESY_WORDS, key=len, reverse=True)) + ")*")


@dataclass(frozen=True)
class Finding:
    """One thing an agent did against the norms: in which conversation, on which message, what it costs."""

    agent: str
    rule: str  # a category of the rules, or a check of CHECKS
    label: str
    points: float
    shop: str
    conversation: str
    customer: str
    ts: str
    ts_ms: int
    text: str  # the message as the log shows it (masked when [privacy] mask is on)
    sender: str  # whose message it is: "agent" or "customer"
    words: tuple[str, ...] = ()  # the flagged words
    detail: str = ""  # what was measured (首次响应 45 秒，规范 30 秒)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent, "rule": self.rule, "label": self.label, "points": self.points, "shop": self.shop,
            "conversation": self.conversation, "customer": self.customer, "ts": self.ts, "text": self.text,
            "sender": self.sender, "words": list(self.words), "detail": self.detail,
        }  # fmt: skip


@dataclass
class AgentReview:
    """One agent's day: the conversations they took part in, their findings, the points deducted."""

    agent: str
    keys: set[tuple[str, str]] = field(default_factory=set)  # (shop, conversation)
    findings: list[Finding] = field(default_factory=list)

    @property
    def conversations(self) -> int:
        return len(self.keys)

    @property
    def deducted(self) -> float:
        return sum(f.points for f in self.findings)

    @property
    def score(self) -> float:
        """The average of the agent's conversations' scores, each 100 less its findings' points, never below 0 (a
        质检 table scores each conversation inspected): serving many buyers is no fault in itself."""
        lost: dict[tuple[str, str], float] = dict.fromkeys(self.keys, 0.0)
        for f in self.findings:
            lost[f.shop, f.conversation] = lost.get((f.shop, f.conversation), 0.0) + f.points
        if not lost:
            return 100.0
        return round(sum(max(0.0, 100.0 - points) for points in lost.values()) / len(lost), 1)

    def by_rule(self) -> dict[str, list[Finding]]:
        """The findings grouped by rule, the costliest rule first."""
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.rule, []).append(finding)
        return dict(sorted(groups.items(), key=lambda kv: (-sum(f.points for f in kv[1]), kv[0])))


@dataclass
class DayReview:
    """The day's inspection: every agent (those without findings too), and the number of conversations read."""

    conversations: int = 0
    agents: dict[str, AgentReview] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [f for a in self.agents.values() for f in a.findings]

    def by_rule(self) -> dict[str, tuple[str, int, float]]:
        """Per rule: its label, the number of findings and the points, the costliest first."""
        totals: dict[str, tuple[str, int, float]] = {}
        for f in self.findings:
            label, count, points = totals.get(f.rule, (f.label, 0, 0.0))
            totals[f.rule] = (label, count + 1, points + f.points)
        return dict(sorted(totals.items(), key=lambda kv: (-kv[1][2], -kv[1][1], kv[0])))

    def to_json(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "agents": [
                {"agent": a.agent, "conversations": a.conversations, "deducted": a.deducted, "score": a.score,
                 "findings": [f.to_json() for f in a.findings]}
                for a in self.agents.values()
            ],
            "rules": [
                {"rule": rule, "label": label, "findings": count, "points": points}
                for rule, (label, count, points) in self.by_rule().items()
            ],
        }  # fmt: skip


class Reviewer:
    """The norms and deductions of `[qa]` with the rules' category labels and severities; `review` reads a day."""

    def __init__(self, settings: QaConfig, categories: Mapping[str, Category]) -> None:
        """`categories`: the rules' categories (`Inspector.categories`, with `short`); ConfigError names a deduction
        that is neither a category nor a check."""
        self.settings = settings
        self.categories = categories
        unknown = sorted(set(settings.deductions) - set(categories) - set(CHECKS))
        if unknown:
            raise ConfigError(
                _("%(key)s: unknown %(names)s (a category of the rules or one of %(checks)s)",
                  key="[qa.deductions]", names=", ".join(unknown), checks=", ".join(CHECKS))
            )  # fmt: skip
        self._questions = tuple(_compact(w) for w in settings.question_words if _compact(w))
        self._closings = tuple(_compact(w) for w in settings.closing_words if _compact(w))
        self._greetings = tuple(_compact(w) for w in settings.greeting_words if _compact(w))

    def points(self, rule: str) -> float:
        """What one finding of `rule` costs."""
        if rule in self.settings.deductions:
            return float(self.settings.deductions[rule])
        if rule in CHECKS:
            return CHECKS[rule][1]
        category = self.categories.get(rule)
        if category is None:  # a category a rules reload took away, still in the day's log
            return SEVERITY_POINTS["low"]
        return SEVERITY_POINTS.get(category.severity, 1.0) if category.side == "agent" else 0.0

    def label(self, rule: str) -> str:
        if rule in CHECKS:
            return _(CHECKS[rule][0])
        category = self.categories.get(rule)
        return category.label if category else rule

    def review(
        self,
        conversations: Iterable[Conversation],
        *,
        carried_on: Collection[tuple[str, str]] = (),
        open_since_ms: int | None = None,
        continued: Collection[tuple[str, str]] = (),
    ) -> DayReview:
        """Read a day's conversations. `carried_on`: (shop, conversation) of those that went on the next day;
        `open_since_ms`: a conversation whose last message came at or after it may still get its closing (today's);
        `continued`: those that went on from the day before (their greeting was owed when they began)."""
        day = DayReview()
        for conversation in conversations:
            day.conversations += 1
            agents = conversation.agents
            key = (conversation.shop, conversation.conversation)
            for agent in agents:
                day.agents.setdefault(agent, AgentReview(agent)).keys.add(key)
            items = conversation.items
            ended = key not in carried_on and not (
                open_since_ms is not None and items and items[-1]["ts_ms"] >= open_since_ms
            )
            for finding in self._conversation(conversation, ended, key not in continued):
                reviewed = day.agents.setdefault(finding.agent, AgentReview(finding.agent))
                reviewed.keys.add(key)
                reviewed.findings.append(finding)
        for reviewed in day.agents.values():
            reviewed.findings.sort(key=lambda f: (f.ts_ms, f.conversation))
        day.agents = dict(sorted(day.agents.items(), key=lambda kv: (kv[1].score, kv[0])))
        return day

    def _conversation(self, conversation: Conversation, ended: bool, began: bool) -> Iterable[Finding]:
        items = conversation.messages
        last_agent = ""
        replies: dict[str, list[tuple[float, Item]]] = {}  # agent → (seconds, the buyer's message) of each reply
        first_burst = True
        answerers = _next_agents(items)
        for index, item in enumerate(items):
            sender = item.get("sender")
            if sender == "agent" and item.get("agent"):
                last_agent = item["agent"]  # type: ignore[assignment]
                for flag in item.get("qa", []):
                    yield self._finding(item, last_agent, flag["category"], "", (flag.get("match", ""),))
                if item.get("short"):
                    yield self._finding(item, last_agent, "short", "")  # the message is the whole of it
                continue
            if sender != "customer":
                continue
            # A buyer's message is the agent's who answers it (docs/kpi.md), else the one serving the conversation.
            owner = answerers[index] or last_agent or item.get("agent") or UNSERVED
            for flag in item.get("qa", []):
                yield self._finding(item, owner, flag["category"], "", (flag.get("match", ""),))
            if "unanswered" not in item:
                continue  # not the first message of a burst
            if item.get("unanswered"):
                if self._questions and self._asks(items, index):
                    yield self._finding(item, owner, "unanswered", "")
                first_burst = False
                continue
            waited = item.get("response_s")
            if waited is None:
                continue
            replies.setdefault(owner, []).append((waited, item))
            limit = self.settings.first_response_s
            if first_burst and limit and waited > limit:
                detail = _("first reply after %(waited)s s (norm %(limit)s s)", waited=_seconds(waited),
                           limit=_seconds(limit))  # fmt: skip
                yield self._finding(item, owner, "first_response", detail)
            first_burst = False
        limit = self.settings.average_response_s
        for agent, waits in replies.items() if limit else ():
            average = sum(w for w, _item in waits) / len(waits)
            if average > limit:
                slowest = max(waits, key=lambda w: w[0])[1]
                detail = _("average reply %(average)s s over %(count)s replies (norm %(limit)s s)",
                           average=_seconds(average), count=len(waits), limit=_seconds(limit))  # fmt: skip
                yield self._finding(slowest, agent, "average_response", detail)
        if self._greetings and began:  # a greeting opens a conversation, not each of its days (docs/quality.md)
            yield from self._greeting(items)
        if self._closings and ended:
            yield from self._closing(conversation.items)

    def _greeting(self, items: Sequence[Item]) -> Iterable[Finding]:
        for item in items:
            if item.get("sender") not in ("agent", "customer"):
                return  # an auto-reply greeted the buyer (a shop's 自动回复 is its 欢迎语)
            if item.get("sender") == "agent" and item.get("agent"):
                if not _holds(_compact(item.get("text", "")), self._greetings):
                    yield self._finding(item, item["agent"], "no_greeting", "")  # type: ignore[arg-type]
                return

    def _closing(self, items: Sequence[Item]) -> Iterable[Finding]:
        """A closing (结束语) is owed by the agent who wrote last, once the conversation ended: a buyer who leaves
        after the answer or after their 好的/谢谢 gets one (docs/quality.md). The shop's follow-up closing counts
        as one; a conversation handed over, an after-sale case still open, or one going on the next day or still within
        its idle time owes none (yet)."""
        replies = [i for i in items if i["kind"] == "message" and i.get("sender") == "agent" and i.get("agent")]
        if not replies:
            return
        last = replies[-1]
        agent: str = last["agent"]  # type: ignore[assignment]
        after = items[items.index(last) + 1 :]
        if any(i["kind"] == "conversation_assigned" and i.get("agent") not in (None, agent) for i in after):
            return  # handed over without a word
        if _holds(_compact(last.get("text", "")), HANDOVER_WORDS):
            return
        if any(self._closed_by_shop(i) for i in after):
            return
        buyer = [i for i in items if i["kind"] == "message" and i.get("sender") == "customer"][-BUYER_LAST_WORDS:]
        if any(i.get("intent") in OPEN_CASE_INTENTS for i in buyer):
            return
        if any(_holds(_compact(i.get("text", "")), self._closings) for i in replies[-CLOSING_LOOKBACK:]):
            return
        if self._closed_before_courtesy(items):
            return
        yield self._finding(last, agent, "no_closing", "")

    def _closed_before_courtesy(self, items: Sequence[Item]) -> bool:
        """Whether an agent's closing came after the buyer's last words but courtesy (谢谢, 好的, 嗯, a sticker): the
        buyer's thanks for the goodbye, and the agent's 嗯嗯 or smile to it, do not ask for another (docs/quality.md)."""
        for item in reversed(items):
            if item["kind"] != "message":
                continue
            text = _compact(item.get("text", ""))
            if item.get("sender") == "customer" and not _COURTESY.fullmatch(text):
                return False
            if item.get("sender") == "agent" and item.get("agent") and _holds(text, self._closings):
                return True
        return False

    def _closed_by_shop(self, item: Item) -> bool:
        """Whether `item` is the shop's closing after the agent's last reply: the follow-up's 结束语 as sent (a
        payment reminder is none), or an auto-reply with closing words."""
        followup = item.get("followup")
        if followup is not None:
            return followup["state"] == "sent" and followup["kind"] in (None, "followup")
        return (
            item["kind"] == "message"
            and item.get("sender") == "auto"
            and _holds(_compact(item.get("text", "")), self._closings)
        )

    def _asks(self, items: Sequence[Item], index: int) -> bool:
        """Whether the burst starting at `index` (the buyer's messages up to an agent's) asks something."""
        for item in items[index:]:
            if item.get("sender") == "agent":
                return False
            text = _LINK.sub(" ", item.get("text", ""))
            if item.get("sender") == "customer" and (
                _QUESTION_MARK.search(text) or _holds(_compact(text), self._questions)
            ):
                return True
        return False

    def _finding(self, item: Item, agent: str, rule: str, detail: str, words: tuple[str, ...] = ()) -> Finding:
        return Finding(
            agent=agent, rule=rule, label=self.label(rule), points=self.points(rule), shop=item["shop"],
            conversation=item["conversation"], customer=item["customer"], ts=item["ts"], ts_ms=item["ts_ms"],
            text=item.get("text", ""), sender=item.get("sender", ""), words=words, detail=detail,
        )  # fmt: skip


def review_day(reviewer: Reviewer, config: Config, conn: sqlite3.Connection, query: DayQuery, now_ms: int) -> DayReview:
    """The day `query` asks for, read from `conn` (one holding the day and the next, `daylog.source.open_day`): a
    conversation that went on the next day, or whose last message is within the follow-up's idle time of `now_ms`
    (plus a minute for its delivery), has not ended, and owes no closing yet; one with a message the day before
    began then, and owes no greeting today."""
    next_day = day_bounds(query.day + timedelta(days=1), config.tz)
    carried = carried_on(conn, next_day[0], next_day[1], query.shop)
    continued = carried_on(conn, *day_bounds(query.day - timedelta(days=1), config.tz), query.shop)
    open_since = now_ms - config.followups.idle_seconds * 1000 - CLOSING_DELIVERY_MS
    with closing(iter_items(conn, query, Rules.from_config(config))) as items:
        return reviewer.review(
            iter_conversations(items), carried_on=carried, open_since_ms=open_since, continued=continued
        )


def reviewer_of(settings: QaConfig, categories: Mapping[str, Category]) -> Reviewer:
    """The day's reviewer of `[qa]` and the rules' categories (ConfigError names a deduction of neither)."""
    return Reviewer(settings, categories)


def _next_agents(items: Sequence[Item]) -> list[str]:
    """For each item, the agent who wrote first after it ("" when none did), in one pass from the end."""
    found = [""] * len(items)
    after = ""
    for index in range(len(items) - 1, -1, -1):
        found[index] = after
        if items[index].get("sender") == "agent" and items[index].get("agent"):
            after = items[index]["agent"]  # type: ignore[assignment]
    return found


class _Kept(dict[int, int | None]):
    """`str.translate`'s table keeping letters and numbers (a Unicode category L… or N…) and dropping the rest, each
    character's category looked up once: a character by character generator over every message took 40 % of a big
    day's inspection (docs/quality.md)."""

    def __missing__(self, code: int) -> int | None:
        kept = code if unicodedata.category(chr(code))[0] in "LN" else None
        self[code] = kept
        return kept


_KEPT = _Kept()


@functools.lru_cache(maxsize=16_384)
def _compact(text: str) -> str:
    """Lower case, full width folded, spaces and punctuation dropped (how norms' words are looked for)."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_KEPT)


def _holds(text: str, words: Iterable[str]) -> bool:
    """Whether `text` (compacted) holds one of `words`: the text compacted once, not once per word."""
    return any(word in text for word in words)


def _seconds(value: float) -> str:
    return f"{value:.0f}"


def render_text(review: DayReview, title: str, *, every: bool = False) -> str:
    """The day's inspection for a terminal: agents and their scores, the rules, then each agent's findings (the first
    `SHOWN` of a rule unless `every`)."""
    agents = {name: a for name, a in review.agents.items()}
    lines = [_("Quality inspection %(title)s: %(conversations)s conversations, %(agents)s agents",
               title=title, conversations=review.conversations, agents=len([a for a in agents if a]))]  # fmt: skip
    if not review.findings:
        lines.append(_("Nothing found: every reply met the rules and the norms."))
        return "\n".join(lines) + "\n"
    rows = [
        [_("Agent"), _("Quality score"), _("Points deducted in all"), _("Findings (count)"), _("Conversations served")]
    ]
    for a in agents.values():
        rows.append(
            [
                _agent_name(a.agent),
                score_text(a.score) if a.agent else "—",
                _points(a.deducted),
                str(len(a.findings)),
                str(a.conversations),
            ]  # fmt: skip
        )
    lines += ["", format_table(rows, right=range(1, 5))]
    rows = [[_("Rule"), _("Findings (count)"), _("Points deducted in all")]]
    rows += [[label, str(count), _points(points)] for label, count, points in review.by_rule().values()]
    lines += ["", format_table(rows, right=range(1, 3))]
    for a in agents.values():
        lines.append("")
        if not a.findings:
            lines.append(_("%(agent)s: score 100, nothing found", agent=_agent_name(a.agent)))
            continue
        if not a.agent:  # no one to score
            lines.append(_("(no agent): %(count)s findings in %(conversations)s conversations no agent wrote in",
                           count=len(a.findings), conversations=a.conversations))  # fmt: skip
        else:
            lines.append(_("%(agent)s: score %(score)s (%(points)s deducted in %(conversations)s conversations)",
                           agent=a.agent, score=score_text(a.score), points=_points(a.deducted),
                           conversations=a.conversations))  # fmt: skip
        for findings in a.by_rule().values():
            first = findings[0]
            lines.append("  " + _("%(label)s: %(count)s, %(points)s deducted", label=first.label, count=len(findings),
                                  points=_points(sum(f.points for f in findings))))  # fmt: skip
            for f in findings if every else findings[:SHOWN]:
                said = f.detail or "  ".join(f"「{w}」" for w in f.words if w)
                where = _("conversation %(conversation)s, customer %(customer)s", conversation=f.conversation,
                          customer=f.customer)  # fmt: skip
                lines.append(terminal(f"    {f.ts[11:19]}  {where}  {said}".rstrip(), single_line=True))
                who = _("agent") if f.sender == "agent" else _("customer")
                lines.append(terminal("      " + _("%(sender)s: %(text)s", sender=who, text=f.text), single_line=True))
            if not every and len(findings) > SHOWN:
                lines.append("    " + _("… and %(count)s more (--all shows every one)", count=len(findings) - SHOWN))
    return "\n".join(lines) + "\n"


def _agent_name(agent: str) -> str:
    return agent or _("(no agent)")


def _points(value: float) -> str:
    return f"{round(value, 1):g}"


def score_text(value: float) -> str:
    """A score as the terminal and the page show it: always one decimal, so a column of them lines up (99.0 beside
    98.1, where 99 stood)."""
    return f"{value:.1f}"
