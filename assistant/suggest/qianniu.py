"""Qianniu-style quick-phrase tables (分组 / 快捷编码 / 快捷短语) to and from the TOML library."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import tomli_w
from jinja2 import meta

from assistant.i18n import _
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrase_tables import (
    COLUMNS,
    HEADER_ALIASES,
    TableError,
    find_header,
    map_header,
    read_table,
    split_text,
    write_table,
)
from assistant.suggest.phrases import (
    ASSISTANT_INTENTS,
    MIN_CHARS,
    PRODUCT_INTENTS,
    PRODUCT_MIN_CHARS,
    Library,
    check_template,
    make_environment,
    visible_length,
)

__all__ = [
    "COLUMNS", "HEADER_ALIASES", "ImportResult", "ImportedPhrase", "Note", "Skipped", "TableError", "as_template",
    "as_text", "decide_intent", "export_rows", "find_header", "import_rows", "keep_edits", "map_header", "read_table",
    "split_text", "suggest_triggers", "to_toml", "write_table",
]  # fmt: skip

RAW_OPEN, RAW_CLOSE = "{% raw %}", "{% endraw %}"
# Ends a raw block, so a text's own is kept out of it: every spelling Jinja's lexer ends one at, `+` (keep the
# whitespace) as well as `-` (strip it); one left inside let the text after it run as template code.
ENDRAW = re.compile(r"(\{%[-+]?\s*endraw\s*[-+]?%\})")
VARIABLE = re.compile(r"\{\{-?\s*(\w+)[^{}]*\}\}")  # in a text that looks as if it filled in variables
IMAGE_ONLY = re.compile(r"(\[图片\]\s*)+")  # how Qianniu writes a picture in a phrase's text
IMAGE_MARK = re.compile(r"[ \t]*\[图片\][ \t]*")  # one in a text, with the spaces around it
TRIGGERS_PER_PHRASE = 4
PROGRESS_ROWS = 1000  # an import reports its progress every this many rows
MAX_CODE_CHARS = 20  # the library's own rule: a short word without spaces (Chinese included)
MIN_INTENT_SCORE = 0.3  # below this the text names no intent clearly enough to import the row
# Qianniu groups of the assistant's own messages, besides their intents' labels and ids.
ASSISTANT_GROUPS: Mapping[str, str] = MappingProxyType({"催付": "payment_reminder", "结束语": "followup"})
# A shop's answers read differently from the buyers' questions the scorer learned from: an answer urging payment
# is a 催付 (its words are a buyer's payment question's), and one giving the address to send a return to is about
# returns, not a buyer's wish to change their own address.
ANSWER_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "payment_reminder",
        re.compile(r"(尽快|记得|抓紧|赶紧|早点|及时)(付款|支付)|(还没|没有|尚未|未)有?(付款|支付)|自动关闭"),
    ),
    ("return_exchange", re.compile(r"退货.{0,6}(寄到|寄回|寄往|地址)|(寄回|退回)的?地址")),
)
# Emoticon and placeholder codes as chat tools write them, and pictographs: dropped before a text is read.
EMOTICON = re.compile(r"\[[^\[\]\s]{1,6}\]|#E-[\w-]+|[\u2600-\u27bf\U0001f300-\U0001faff]")


@dataclass(frozen=True)
class Skipped:
    """A row not imported: its 1-based row number in the file and why."""

    row: int
    reason: str


@dataclass(frozen=True)
class Note:
    """Something to know about a row that was imported, or taken as another row's phrase: its row and what."""

    row: int
    message: str


@dataclass(frozen=True)
class ImportedPhrase:
    """A phrase built from one row, ready to be written as TOML."""

    id: str
    intent: str
    code: str
    text: str
    triggers: tuple[str, ...]
    group: str
    row: int
    source: str = "text"  # what decided the intent: "group" (it names one) or "text" (the suggestion engine)
    confidence: float = 1.0
    replaces: str | None = None  # the id of an earlier layer's phrase (the demo library's) it replaces
    types: tuple[str, ...] = ()  # customer types, as an engineer wrote them in a previous import (keep_edits)
    goods: tuple[str, ...] = ()  # the goods it is written for, as an engineer wrote them there


@dataclass(frozen=True)
class ImportResult:
    """What an import produced: phrases taken, rows left out with their reasons, and notes on rows taken."""

    phrases: tuple[ImportedPhrase, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=())
    notes: tuple[Note, ...] = field(default=())


def import_rows(
    rows: Sequence[Sequence[str]],
    matcher: Matcher,
    *,
    taken: Mapping[str, str] | None = None,
    replaceable: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Turn table rows (title rows, a header, then phrases) into phrases; each intent decided by the text.

    `taken`: codes (lower case) → phrase ids the import must not reuse (default: the matcher's whole
    library); `replaceable`: codes an imported phrase takes over from an earlier layer (the demo library);
    `progress`: called with (rows read, rows in all) every PROGRESS_ROWS rows (a team's 20,000 take a minute).
    """
    header_at = find_header(rows)
    if header_at is None:
        raise TableError(
            _("no header with a phrase column (one of: %(names)s…)", names="、".join(HEADER_ALIASES["text"][:6]))
        )
    columns = map_header(rows[header_at])
    library = matcher.library
    env = make_environment()
    if taken is None:
        taken = {p.code.lower(): p.id for p in library.phrases}
    replaceable = replaceable or {}
    codes: dict[str, int] = {}  # codes of this file → the row that took it
    ids = {*taken.values(), *replaceable.values()}  # the ids that stay (a replaced import's are free again)
    phrases: list[ImportedPhrase] = []
    skipped: list[Skipped] = []
    notes: list[Note] = []
    texts: dict[str, ImportedPhrase] = {}  # texts imported → their phrase: a text shared by two groups is one phrase
    coded = _coded_rows(rows[header_at + 1 :], columns, header_at + 2)
    width = max((i + 1 for i, h in enumerate(rows[header_at]) if h.strip()), default=0)
    free_codes = _FreeCodes(library, {*taken, *replaceable})
    total = len(rows) - header_at - 1
    for n, row in enumerate(rows[header_at + 1 :], header_at + 2):
        if (n - header_at - 1) % PROGRESS_ROWS == 0:
            matcher.clear_caches()  # each text is read once: 20,000 readings kept held half a gigabyte
            if progress is not None:
                progress(n - header_at - 1, total)
        cell = {name: row[i].strip() if i < len(row) else "" for name, i in columns.items()}
        text, group, code = cell.get("text", ""), cell.get("group", ""), cell.get("code", "")
        extra = [c for c in row[width:] if c.strip()]
        if extra:  # cells under no heading: most often a phrase cut at its unquoted commas
            reason = _(
                "%(n)s cells under a header of %(width)s (a comma in the phrase, not in quotes?): %(extra)s is under "
                "no heading; quote the phrase, or save the table as .xlsx",
                n=width + len(extra),
                width=width,
                extra="、".join(repr(c) for c in extra),
            )
            skipped.append(Skipped(n, reason))
            continue
        if not any(cell.values()):
            continue
        image = cell.get("image", "")
        if IMAGE_ONLY.fullmatch(text) or (image and not text):
            skipped.append(Skipped(n, _("an image alone: images are not supported, only text is imported")))
            continue
        if not text:
            skipped.append(Skipped(n, _("empty phrase text")))
            continue
        # said of a row whose text is taken (here or as an earlier row's), not of one left out
        lost = [Note(n, _("the image is not imported (images are not supported): only the text"))] if image else []
        if IMAGE_ONLY.search(text):  # the picture Qianniu writes into a text: a buyer would read "[图片]"
            text = IMAGE_MARK.sub(" ", text).strip()
            lost = [Note(n, _("[图片] is not imported (images are not supported): the text is imported without it; check that it reads well without the picture"))]  # fmt: skip
        if not code and coded.get(text, n) > n:  # the same text with the shop's code comes later: that row is taken
            notes.append(Note(n, _("same text as row %(row)s, which has a code: imported once, from that row", row=coded[text])))  # fmt: skip
            continue
        if text in texts:
            first = texts[text]
            message = _(
                "same text as row %(row)s: imported once, as %(code)s in the group %(group)s",
                row=first.row,
                code=first.code,
                group=first.group,
            )
            notes.extend([Note(n, message), *lost])
            continue
        decided = decide_intent(matcher, group, text)
        if decided is None:
            labels = "、".join(s.label for s in library.intents.values())
            reason = _(
                "cannot tell the intent from the text, and the group %(group)r names none (%(labels)s)",
                group=group,
                labels=labels,
            )
            skipped.append(Skipped(n, reason))
            continue
        intent, source, confidence = decided
        if intent in ASSISTANT_INTENTS and source == "text":
            group_name = next((g for g, i in ASSISTANT_GROUPS.items() if i == intent), library.intents[intent].label)
            reason = _(
                "reads as %(label)s (%(intent)s), a message the assistant sends itself, never a suggestion: in the "
                "group %(group)s it is imported as one; in a group named as the intent it answers, as that intent",
                label=library.intents[intent].label,
                intent=intent,
                group=group_name,
            )
            skipped.append(Skipped(n, reason))
            continue
        template, reasons = check_template(env, as_template(text), library.variables)
        if template is None:
            skipped.append(Skipped(n, "; ".join(reasons)))
            continue
        length = visible_length(template, library.variables)
        minimum = PRODUCT_MIN_CHARS if intent in PRODUCT_INTENTS else MIN_CHARS
        if length < minimum:
            reason = _(
                "text too short for %(intent)s: %(n)s characters (min %(min)s)", intent=intent, n=length, min=minimum
            )
            skipped.append(Skipped(n, reason))
            continue
        if code and (any(c.isspace() for c in code) or len(code) > MAX_CODE_CHARS):
            skipped.append(
                Skipped(n, _("code %(code)r must be a short word without spaces (at most 20 characters)", code=code))
            )
            continue
        if not code:  # made from the prefix the library's codes of the intent have, and said
            code = free_codes.take(intent, codes)
            notes.append(Note(n, _("no code in the row: %(code)s was made for it", code=code)))
        key = code.lower()
        if key in codes:
            skipped.append(Skipped(n, _("duplicate code %(code)r (also row %(row)s)", code=code, row=codes[key])))
            continue
        if key in taken and key not in replaceable:
            skipped.append(Skipped(n, _("code %(code)r is taken by the phrase %(id)s", code=code, id=taken[key])))
            continue
        codes[key] = n
        pid = _free_id(f"{intent}.imported_{_code_slug(code)}", ids)
        ids.add(pid)
        triggers = suggest_triggers(matcher, intent, text)
        group = group or library.intents[intent].label
        replaces = replaceable.get(key)
        phrases.append(
            ImportedPhrase(pid, intent, code, as_template(text), triggers, group, n, source, confidence, replaces)
        )
        texts[text] = phrases[-1]
        notes.extend(lost)
        known = {*library.variables, "item"}
        variables = [m.group(0) for m in VARIABLE.finditer(text) if m.group(1) in known]
        if variables:
            names = "、".join(dict.fromkeys(variables))
            notes.append(Note(n, _("%(names)s is kept as written, not filled in: a Qianniu text is plain text (write variables in the phrase file)", names=names)))  # fmt: skip
    return ImportResult(tuple(phrases), tuple(skipped), tuple(notes))


def _coded_rows(rows: Sequence[Sequence[str]], columns: Mapping[str, int], first: int) -> dict[str, int]:
    """Each text's first row (numbered from `first`) that gives it a code."""
    found: dict[str, int] = {}
    at_text, at_code = columns.get("text"), columns.get("code")
    for n, row in enumerate(rows, first):
        text = row[at_text].strip() if at_text is not None and at_text < len(row) else ""
        if at_code is not None and at_code < len(row) and row[at_code].strip():
            found.setdefault(IMAGE_MARK.sub(" ", text).strip(), n)
    return found


def decide_intent(matcher: Matcher, group: str, text: str) -> tuple[str, str, float] | None:
    """The intent of a phrase: the group's when it is exactly an intent's label or id (the assistant's own
    included, and the Qianniu groups 催付 and 结束语); else the reading of the text: a shop's wording the
    suggestion engine misreads (ANSWER_CUES), the nearest of the library's own answers when it is one of the
    assistant's messages, then the learned scorer with the key words; None when nothing is clear.

    A group such as 售前咨询 or 物流 spans several intents, so it decides nothing on its own. An assistant intent
    read from the text alone is for the caller to refuse: those phrases are sent by the assistant itself.
    """
    name = group.strip()
    if name in ASSISTANT_GROUPS:
        return ASSISTANT_GROUPS[name], "group", 1.0
    for spec in matcher.library.intents.values():
        if name and name in (spec.label, spec.id):
            return spec.id, "group", 1.0
    text = EMOTICON.sub(" ", text)  # [微笑], #E-s14, [图片], ❤: the reader drops them from a message too
    for intent, cue in ANSWER_CUES:
        if cue.search(text):
            return intent, "text", 1.0
    intents = {i: spec for i, spec in matcher.library.intents.items() if i not in ASSISTANT_INTENTS}
    confidences, _none = matcher.intent_confidences(text)
    keywords = matcher.keyword_scores(text)
    scores = {i: 0.5 * confidences.get(i, 0.0) + 0.5 * keywords.get(i, 0.0) for i in intents}
    # An answer worded like one of the library's own answers is about what that one answers.
    like = _like_answers(matcher, text)
    nearest = max(like, key=lambda i: like[i], default=None)
    if nearest in ASSISTANT_INTENTS:  # worded like the assistant's own closing or reminder
        return nearest, "text", round(like[nearest], 2)
    for intent, similarity in like.items():
        if intent in scores:
            scores[intent] = max(scores[intent], similarity)
    best = max(scores, key=lambda i: scores[i], default=None)
    if best is None or scores[best] < MIN_INTENT_SCORE:
        return None
    return best, "text", round(scores[best], 2)


@functools.lru_cache(maxsize=4)
def _answers(matcher: Matcher) -> list[str]:
    """The library's answers as the normalizer reads them (once per import)."""
    library = matcher.library
    return [matcher.normalizer.normalize(EMOTICON.sub(" ", library.render(p.id))) for p in library.phrases]


def _like_answers(matcher: Matcher, text: str) -> dict[str, float]:
    """Per intent, 0–1: how close the text is to the library's nearest answer of that intent (0.6 and up)."""
    from rapidfuzz import fuzz, process

    found: dict[str, float] = {}
    hits = process.extract(
        matcher.normalizer.normalize(text), _answers(matcher), scorer=fuzz.ratio, limit=3, score_cutoff=60
    )
    for _answer, score, n in hits:
        intent = matcher.library.phrases[n].intent
        found[intent] = max(found.get(intent, 0.0), score / 100.0)
    return found


def suggest_triggers(matcher: Matcher, intent: str, text: str) -> tuple[str, ...]:
    """Triggers for an imported phrase: the intent's key words found in its text, else its first key words."""
    spec = matcher.library.intents[intent]
    words = [w for w in (*spec.strong, *spec.keywords) if "#" not in w]
    compact = matcher.normalizer.normalize(text)
    found = [w for w in words if matcher.normalizer.normalize(w) in compact]
    chosen = list(dict.fromkeys(found + words))[:TRIGGERS_PER_PHRASE]
    return tuple(chosen) or (spec.label,)


def to_toml(result: ImportResult, source: str = "") -> str:
    """The imported phrases as a phrase file (written by tomli-w, so any text reads back exactly)."""
    groups = list(dict.fromkeys(p.group for p in result.phrases))
    first = groups[0] if groups else "导入"
    phrases = []
    for p in result.phrases:
        entry: dict[str, Any] = {"id": p.id, "intent": p.intent, "code": p.code}
        if p.group != first:
            entry["group"] = p.group
        entry["text"] = p.text
        entry["triggers"] = list(p.triggers)
        if p.types:
            entry["types"] = list(p.types)
        if p.goods:
            entry["goods"] = list(p.goods)
        phrases.append(entry)
    header = [
        f"# Imported from {source}" if source else "# Imported quick phrases",
        "# Triggers were guessed from key words: review them.",
    ]
    header = [" ".join(line.splitlines()) for line in header]  # a file name cannot break out of its comment
    return "\n".join(header) + "\n" + tomli_w.dumps({"group": first, "phrase": phrases})


def keep_edits(result: ImportResult, previous: Mapping[str, Any]) -> ImportResult:
    """A re-import (`--replace`) over the phrase file of the previous one: a phrase whose code and text are
    unchanged keeps what the engineer made of it there — its id, intent, triggers, customer types, goods — instead
    of fresh guesses (the file asks for the triggers to be reviewed; re-importing threw the review away). A row
    whose group decides its intent (催付, 结束语, an intent's name) takes the group's: an earlier import that read
    a 催付 as a shipping answer was no review, and it offered a payment nag to buyers."""
    before: dict[str, dict[str, Any]] = {}
    for entry in previous.get("phrase", []):
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            before[entry["code"].lower()] = entry
    kept = []
    for p in result.phrases:
        old = before.get(p.code.lower())
        if old is None or old.get("text") != p.text or (p.source == "group" and old.get("intent") != p.intent):
            kept.append(p)
            continue
        kept.append(
            dataclasses.replace(
                p,
                id=str(old.get("id", p.id)),
                intent=str(old.get("intent", p.intent)),
                triggers=tuple(str(t) for t in old.get("triggers", p.triggers)),
                types=tuple(str(t) for t in old.get("types", ())),
                goods=tuple(str(g) for g in old.get("goods", ())),
            )
        )
    return dataclasses.replace(result, phrases=tuple(kept))


def export_rows(library: Library, *, raw: bool = False, file: str | None = None, shop: str = "") -> list[list[str]]:
    """Header and one row per phrase (of one phrase file, when given): 分组, 快捷编码, 快捷短语 (rendered with the
    library's defaults unless raw); `shop`: that shop's own phrases (`[phrases.shops]`) instead of the shared ones."""
    rows = [list(COLUMNS)]
    for p in library.shop_phrases.get(shop, ()) if shop else library.phrases:
        if file is not None and p.file != file:
            continue
        rows.append([p.group, p.code, as_text(p.text) if raw else library.render(p.id, shop=shop)])
    return rows


def as_template(text: str) -> str:
    """A Qianniu text as a phrase template that renders exactly as written: any Jinja marks in it ({{ {% {#) go
    inside {% raw %}…{% endraw %}, and an endraw tag in the text is given as a string."""
    if not any(mark in text for mark in ("{{", "{%", "{#")):
        return text
    pieces = ENDRAW.split(text)  # text, endraw tag, text, …
    out = [RAW_OPEN, pieces[0], RAW_CLOSE]
    for tag, rest in zip(pieces[1::2], pieces[2::2], strict=True):
        out += ['{{ "', tag, '" }}', RAW_OPEN, rest, RAW_CLOSE]
    return "".join(out)


def as_text(template: str) -> str:
    """What as_template made, back as the Qianniu text; any other template as written."""
    if not template.startswith(RAW_OPEN):
        return template
    env = make_environment()
    if meta.find_undeclared_variables(env.parse(template)):
        return template  # a template written by hand: its variables are the point
    return env.from_string(template).render()


class _FreeCodes:
    """Codes for rows without one: the commonest letters the library's codes of the intent start with (kc for
    stock in the shipped library), else the intent's initials, and the first number free. The library is read
    once and each prefix's count goes on from its last code: made again for every row (the library scanned, the
    codes copied, the numbers counted from 1), 20,000 rows without codes took minutes."""

    def __init__(self, library: Library, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        found: dict[str, Counter[str]] = {}
        for p in library.phrases:
            if m := re.match(r"[a-z]+", p.code):
                found.setdefault(p.intent, Counter())[m.group(0)] += 1
        self.prefixes = {intent: counts.most_common(1)[0][0] for intent, counts in found.items()}
        self.next: dict[str, int] = {}  # per prefix, the number below which none is free

    def take(self, intent: str, codes: Mapping[str, int]) -> str:
        """The first free code of the intent's prefix (the import's own `codes`, lower case, count as taken)."""
        prefix = self.prefixes.get(intent) or "".join(part[0] for part in intent.split("_"))
        n = self.next.get(prefix, 1)
        while f"{prefix}{n}".lower() in self.taken or f"{prefix}{n}".lower() in codes:
            n += 1
        self.next[prefix] = n  # the codes taken only grow: none below n frees up
        return f"{prefix}{n}"


def _code_slug(code: str) -> str:
    """A code as it can appear in a phrase id: ASCII codes as written, others by a short stable digest."""
    if re.fullmatch(r"[0-9A-Za-z_\-]+", code):
        return code.lower()
    return "c" + hashlib.sha1(code.encode("utf-8")).hexdigest()[:8]


def _free_id(base: str, taken: set[str]) -> str:
    base = re.sub(r"[^0-9a-z_.\-]", "_", base.lower())
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate
