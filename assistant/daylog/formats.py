"""Rendering the daily log's item stream: text for a terminal, JSONL, CSV. Each writer streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from assistant import i18n
from assistant.daylog.query import Item
from assistant.events import ORDER_TYPES
from assistant.safetext import CsvWriter, terminal
from assistant.templating import duration, suggestion_score

FORMATS = ("text", "jsonl", "csv")

CSV_COLUMNS = (
    "id", "ts", "shop", "conversation", "customer", "sender", "agent", "text", "intent", "customer_type",
    "suggestions", "suggestion_used", "response_s", "slow", "unanswered", "short",
    "followup_id", "followup_kind", "followup_outcome", "came_back_s", "qa",
)  # fmt: skip


@dataclass(frozen=True)
class Wording:
    """The text format's language and the names it gives intents and customer types (ids stay in JSONL/CSV)."""

    language: str = i18n.DEFAULT_LANGUAGE
    intents: Mapping[str, str] = field(default_factory=dict)
    customer_types: Mapping[str, str] = field(default_factory=dict)
    phrases: Mapping[str, str] = field(default_factory=dict)  # a phrase's code (hd2) by its id
    shop_phrases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # a shop's own phrases' codes

    def phrase(self, shop: object, phrase_id: str) -> str:
        """How a phrase is named in the log: its code in the conversation's shop (its own phrase first), else
        its id."""
        own = self.shop_phrases.get(shop) if isinstance(shop, str) else None
        return (own or {}).get(phrase_id) or self.phrases.get(phrase_id, phrase_id)


def wording_of(library: Any, language: str) -> Wording:
    """The names a loaded phrase library gives intents, customer types and phrases (None: ids only)."""
    if library is None:
        return Wording(language)
    intents = {i: spec.label for i, spec in library.intents.items()}
    types = {i: spec.label for i, spec in library.customer_types.items()}
    codes = {p.id: p.code for p in library.phrases if p.code}
    own = {shop: {p.id: p.code for p in phrases if p.code} for shop, phrases in library.shop_phrases.items()}
    return Wording(language, intents, types, codes, own)


def write(
    items: Iterable[Item],
    out: TextIO,
    fmt: str,
    *,
    color: bool = False,
    header: bool = True,
    wording: Wording | None = None,
) -> int:
    """Write `items` in format `fmt` ("text", "jsonl" or "csv"); returns how many items were read.

    `header=False` leaves out the CSV header line (for blocks of a day written by several workers).
    """
    if fmt == "jsonl":
        return write_jsonl(items, out)
    if fmt == "csv":
        return write_csv(items, out, header=header)
    if fmt == "text":
        return write_text(items, out, color=color, wording=wording)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_jsonl(items: Iterable[Item], out: TextIO) -> int:
    """One JSON object per line, annotations included."""
    encode = ItemEncoder()
    count = 0
    batch: list[str] = []
    for item in items:
        batch.append(encode(item))
        count += 1
        if len(batch) == 512:
            batch.append("")
            out.write("\n".join(batch))
            batch = []
    if batch:
        batch.append("")
        out.write("\n".join(batch))
    return count


def _json_encoder() -> Callable[[Any], str]:
    """Compact JSON text of one item, as json.dumps(item, ensure_ascii=False, separators=(",", ":"))."""
    slow = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return slow

    def refuse(value: Any) -> Any:
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    # json's own C encoder, built once instead of once per call (a fifth of the cost on log lines);
    # markers=None skips the cycle check: items are trees.
    fast = make(None, refuse, json.encoder.encode_basestring, None, ":", ",", False, False, True)

    def encode(item: Any) -> str:
        return "".join(fast(item, 0))

    return encode


encode_json = _json_encoder()


class ItemEncoder:
    """`encode_json(item)`, with string templates for the commonest shapes (customer, agent and auto
    messages without a follow-up), about twice as fast on a large day. Any other shape, or a value
    the template does not expect, takes the general encoder: the text is the same either way.

    One encoder per output stream: it remembers the last conversation's encoded fields.
    """

    def __init__(self) -> None:
        self._where: tuple[str, str, str] | None = None
        self._where_json = ""

    def __call__(self, item: Item) -> str:
        try:
            size = len(item)
            sender = item.get("sender")
            if sender == "customer" and (size == 14 or size == 17):
                return self._customer_line(item, burst=size == 17)
            if sender == "agent" and size == 11:
                return self._head(item) + f',"text":{_S(item["text"])},"short":{_bool(item["short"])}}}'
            if size == 10 and item["kind"] == "message":
                return self._head(item) + f',"text":{_S(item["text"])}}}'
        except (KeyError, TypeError):
            pass
        return encode_json(item)

    def _head(self, item: Item) -> str:
        if type(item["ts_ms"]) is not int or type(item["sender"]) is not str:
            raise TypeError(item["ts_ms"])
        where = (item["shop"], item["conversation"], item["customer"])
        if where != self._where:  # consecutive items mostly share their conversation: encode it once
            self._where_json = f'"shop":{_S(where[0])},"conversation":{_S(where[1])},"customer":{_S(where[2])}'
            self._where = where
        return (
            f'{{"kind":{_S(item["kind"])},"id":{_S(item["id"])},"ts":{_S(item["ts"])},"ts_ms":{item["ts_ms"]},'
            f'{self._where_json},"agent":{_opt(item["agent"])},"sender":{_S(item["sender"])}'
        )

    def _customer_line(self, item: Item, *, burst: bool) -> str:
        offered = []
        for s in item["suggestions"]:
            if len(s) != 4:
                raise TypeError("suggestion shape")
            offered.append(
                f'{{"phrase_id":{_S(s["phrase_id"])},"code":{_opt(s["code"])},"score":{_num(s["score"])},'
                f'"used":{_bool(s["used"])}}}'
            )
        used = item["suggestion_used"]
        line = (
            self._head(item) + f',"text":{_S(item["text"])},"intent":{_opt(item["intent"])},'
            f'"customer_type":{_opt(item["customer_type"])},"suggestions":[{",".join(offered)}],'
            f'"suggestion_used":{"null" if used is None else _bool(used)}'
        )
        if not burst:
            return line + "}"
        return (
            line + f',"response_s":{_num(item["response_s"])},"slow":{_bool(item["slow"])},'
            f'"unanswered":{_bool(item["unanswered"])}}}'
        )


def encode_item(item: Item) -> str:
    """One item as one line of JSON (see `ItemEncoder`)."""
    return ItemEncoder()(item)


_S = json.encoder.encode_basestring  # the C escaper behind json.dumps(ensure_ascii=False)


def _bool(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise TypeError(value)


def _opt(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is not str:
        raise TypeError(value)
    return _S(value)


def _num(value: Any) -> str:
    if value is None:
        return "null"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0:  # finite
        return float.__repr__(value)
    raise TypeError(value)


def write_csv_header(out: TextIO) -> None:
    CsvWriter(out).writerow(CSV_COLUMNS)


def write_csv(items: Iterable[Item], out: TextIO, *, header: bool = True) -> int:
    """One row per message (and per follow-up that never became a message); orders are in JSONL only."""
    writer = CsvWriter(out)  # formula starts neutralized, line breaks quoted (safetext.py)
    if header:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for item in items:
        count += 1
        if item["kind"] not in ("message", "followup"):
            continue
        writer.writerow([_cell(v) for v in csv_row(item)])
    return count


def csv_row(item: Item) -> list[Any]:
    """The CSV cells of a message item, in `CSV_COLUMNS` order."""
    note = item.get("followup")
    suggestions = item.get("suggestions") or []
    return [
        item["id"],
        item["ts"],
        item["shop"],
        item["conversation"],
        item["customer"],
        item.get("sender"),
        item.get("agent"),
        item.get("text"),
        item.get("intent"),
        item.get("customer_type"),
        " ".join(
            f"{s['code'] or s['phrase_id']}:{suggestion_score(s['score'])}{'*' if s['used'] else ''}"
            for s in suggestions
        ),
        item.get("suggestion_used"),
        item.get("response_s"),
        item.get("slow"),
        item.get("unanswered"),
        item.get("short"),
        note["id"] if note else None,
        note["kind"] if note else None,
        note["outcome"] if note else None,
        note["came_back_s"] if note else None,
        " ".join(f"{f.get('category')}:{f.get('match')}" for f in item.get("qa") or ()) or None,
    ]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# ---- text ----------------------------------------------------------------------------------------

_STYLES = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "customer": "\x1b[36m",
    "agent": "\x1b[32m",
    "auto": "\x1b[35m",
    "warn": "\x1b[33m",
    "bad": "\x1b[31m",
    "reset": "\x1b[0m",
}
_INDENT = " " * 20


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color or not text:
            return text
        return f"{_STYLES[style]}{text}{_STYLES['reset']}"


def write_text(items: Iterable[Item], out: TextIO, *, color: bool = False, wording: Wording | None = None) -> int:
    """A readable transcript: a heading per conversation, one line per event, notes under messages."""
    paint = _Paint(color)
    words = _Words(wording or Wording())
    current: tuple[str, str] | None = None
    count = 0
    for item in items:
        count += 1
        key = (item["shop"], item["conversation"])
        if key != current:
            if current is not None:
                out.write("\n")
            current = key
            who = words.senders["customer"]
            heading = f"== {item['shop']} · {item['conversation']} · {who} {item['customer']} =="
            out.write(paint("bold", _safe(heading)) + "\n")
        out.write(_text_lines(item, paint, words))
    return count


class _Words:
    """The catalog's words for one language, looked up once per transcript."""

    def __init__(self, wording: Wording) -> None:
        self.wording = wording
        self.t = t = i18n.translator(wording.language)
        self.senders = {"customer": t.gettext("customer"), "agent": t.gettext("agent"), "auto": t.gettext("auto")}
        self.order, self.used, self.closed = t.gettext("order"), t.gettext("used"), t.gettext("closed")
        self.handed = t.gettext("handed")

    def intent(self, ident: str) -> str:
        return i18n.label(self.wording.language, ident, self.wording.intents.get(ident))

    def customer_type(self, ident: str) -> str:
        return i18n.label(self.wording.language, ident, self.wording.customer_types.get(ident))

    def duration(self, seconds: float) -> str:
        return duration(seconds, self.t)


def _text_lines(item: Item, paint: _Paint, words: _Words) -> str:
    t = words.t
    clock = paint("dim", item["ts"][11:19])
    kind = item["kind"]
    if kind in ("message", "followup"):
        sender = item.get("sender", "")
        who = (item.get("agent") or words.senders["agent"]) if sender == "agent" else words.senders.get(sender, sender)
        style = sender if sender in ("customer", "agent", "auto") else "dim"
        body = _safe(item.get("text", "")).replace("\n", "\n" + _INDENT)
        if kind == "followup":  # a follow-up that never became a message (failed, missed, stale, a prompt…)
            body = paint("dim", t.gettext("(not sent) %(text)s", text=body))
        line = f"{clock}  {paint(style, _pad(_safe(who), 9))} {body}"
        notes = _notes(item, paint, words)
        return line + "\n" + (f"{_INDENT}{notes}\n" if notes else "")
    if kind in ORDER_TYPES:
        amount = item.get("amount")
        money = f" ¥{amount:.2f}" if amount is not None else ""
        agent = f" · {item.get('agent')}" if item.get("agent") else ""  # as the page says it; (小美) was ASCII
        what = {
            "order_created": t.gettext("created"),
            "order_paid": t.gettext("paid"),
            "order_refunded": t.gettext("refunded"),
        }.get(kind) or (t.gettext("closed (paid order)") if item.get("paid") else t.gettext("closed (order)"))
        order = _safe(str(item.get("order")))
        counted = refund_counted(item, t)
        money = " " + paint("warn", counted) if counted else money
        line = f"{clock}  {paint('bold', _pad(words.order, 9))} {order} {what}{money}{_safe(agent)}\n"
        late = late_note(item, t)
        return line + (f"{_INDENT}{paint('warn', late)}\n" if late else "")
    if kind == "suggestion_used":
        phrase = str(item.get("phrase_id") or "")
        used = t.gettext(
            "%(agent)s used %(phrase)s", agent=item.get("agent"), phrase=words.wording.phrase(item.get("shop"), phrase)
        )
        return f"{clock}  {paint('dim', _pad(words.used, 9))} {_safe(used)}\n"
    if kind == "conversation_assigned":
        handed = t.gettext("handed over to %(agent)s", agent=item.get("agent"))
        return f"{clock}  {paint('dim', _pad(words.handed, 9))} {_safe(handed)}\n"
    closed = t.gettext("conversation closed")
    return f"{clock}  {paint('dim', _pad(words.closed, 9))} {closed}\n"


def late_note(item: Item, t: i18n.Translator) -> str:
    """What a payment or a refund stamped after its order's payment window counts for: no figure of the report (a
    refund is listed beside the figures, as a late refund; docs/kpi.md); empty otherwise."""
    if not item.get("late"):
        return ""
    if item["kind"] == "order_refunded":
        return t.gettext("after the order's payment window: in no figure of the report, listed as a late refund")
    return t.gettext("after the order's payment window: in no figure of the report")


def refund_counted(item: Item, t: i18n.Translator) -> str:
    """What a refund counts for, when not its amount: more than the order was paid and not refunded before, or an
    order with no payment logged (the report takes no more off; docs/kpi.md); empty otherwise."""
    note = item.get("refund")
    if not note:
        return ""
    amount = f"¥{item.get('amount') or 0.0:.2f}"
    if note["unrefunded"] is None:
        return t.gettext("%(amount)s (no payment of this order seen)", amount=amount)
    if (note["counted"] or 0.0) < (item.get("amount") or 0.0):
        left = f"¥{note['unrefunded']:.2f}"
        return t.gettext("%(amount)s (more than the %(left)s paid and not refunded, counted as %(left)s)", amount=amount, left=left)  # fmt: skip
    return ""


def _notes(item: Item, paint: _Paint, words: _Words) -> str:
    t = words.t
    parts: list[str] = []
    if item.get("sender") == "customer":
        if item.get("intent"):
            parts.append(t.gettext("intent %(name)s", name=_safe(words.intent(str(item.get("intent"))))))
        if item.get("customer_type"):
            parts.append(t.gettext("type %(name)s", name=_safe(words.customer_type(str(item.get("customer_type"))))))
        suggestions = item.get("suggestions") or []
        if suggestions:
            offered = t.gettext(", ").join(  # the language's list comma: 、 in a Chinese line, where ", " stood
                f"{_safe(s['code'] or s['phrase_id'])} {suggestion_score(s['score'])}{' ✓' if s['used'] else ''}"
                for s in suggestions
            )
            if item.get("suggestion_used"):
                parts.append(t.gettext("suggested %(list)s", list=offered))
            else:
                parts.append(t.gettext("suggested %(list)s (none used)", list=offered))
        if item.get("unanswered"):
            parts.append(paint("bad", t.gettext("unanswered")))
        elif item.get("response_s") is not None:
            waited = t.gettext("replied after %(d)s", d=words.duration(item.get("response_s") or 0.0))
            parts.append(paint("warn", t.gettext("%(what)s (slow)", what=waited)) if item.get("slow") else waited)
    if item.get("short"):
        parts.append(paint("warn", t.gettext("short reply")))
    for f in item.get("qa") or ():
        quality = t.gettext("quality")
        label = f"{quality} {f.get('label') or f.get('category')}「{f.get('match')}」"
        parts.append(paint("bad", _safe(label)))
    note = item.get("followup")
    if note:
        kind = t.gettext("payment reminder") if note["kind"] == "payment_reminder" else t.gettext("follow-up")
        if note["outcome"] == "came_back":
            came = words.duration(note["came_back_s"] or 0.0)
            parts.append(t.gettext("%(kind)s sent, customer came back after %(d)s", kind=kind, d=came))
        else:
            style = "bad" if note["outcome"] in ("failed", "missed", "stale") else "dim"
            state = i18n.followup_states(words.wording.language).get(note["outcome"], note["outcome"])
            parts.append(paint(style, f"{kind} {_safe(state)}"))
    return paint("dim", " · ").join(parts)


def _pad(text: str, width: int) -> str:
    # CJK characters take two terminal columns.
    columns = sum(2 if "\u2e80" <= ch <= "\uffdc" else 1 for ch in text)
    return text + " " * max(0, width - columns)


def _safe(text: str) -> str:
    # Customer text must not drive the supervisor's terminal.
    return terminal(text)
