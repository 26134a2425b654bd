"""The matching vocabulary: intents.toml (key words, synonyms, normalization) and customer_types.toml."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from assistant.config.tomlfile import load_toml
from assistant.i18n import _, ngettext, os_reason
from assistant.suggest.textnorm import DEFAULT_FILLERS, NormalizationData

INTENTS: tuple[str, ...] = (
    "greeting", "product_info", "size_advice", "stock", "price_bargain", "promotion", "shipping_time",
    "logistics", "express_choice", "payment", "invoice", "address_change", "return_exchange", "refund",
    "quality_issue", "authenticity", "gift", "thanks_bye", "complaint", "urge", "followup", "followup_paid",
    "payment_reminder", "recharge",
)  # fmt: skip
# Intents the assistant uses itself; never suggested for a plain customer message. `followup_paid`: the closing
# (结束语) of a conversation whose order is paid (a `followup` follow-up; its phrases thank, never sell).
ASSISTANT_INTENTS = frozenset({"followup", "followup_paid", "payment_reminder"})
TYPE_IDS: tuple[str, ...] = (
    "newcomer", "returning", "impatient", "hesitant", "bargainer", "pressuring", "budget", "affluent",
    "picky", "professional", "suspicious", "freebie", "impulsive", "demanding",
)  # fmt: skip
DEFAULT_TYPE = "newcomer"
NUMBER = "[0-9零一二两三四五六七八九十百千万半几]+"  # what a "#" number slot of a library word stands for
_TYPE_KEYS = frozenset(
    {"id", "label", "buys", "description", "strong", "cues", "weak", "patterns", "script", "ordered", "ordered_script"}
)
_INTENT_KEYS = frozenset({"label", "strong", "keywords", "weak", "whole", "patterns"})


@dataclass(frozen=True)
class Problem:
    """One reason the library cannot be used: where (file, phrase id, the line of its `[[phrase]]` when known) and
    why."""

    file: str
    phrase_id: str
    reason: str
    line: int = 0

    @property
    def place(self) -> str:
        """The file, with the line when known (`shop/own.toml:12`), as editors open it."""
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        where = f"{self.place} [{self.phrase_id}]" if self.phrase_id else self.place
        return _("%(where)s: %(problem)s", where=where, problem=self.reason)


class LibraryError(Exception):
    """The library failed validation; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(str(p) for p in self.problems)
        count = len(self.problems)
        heading = ngettext("%(num)d problem in the phrase library:", "%(num)d problems in the phrase library:", count)
        super().__init__(f"{heading}\n{lines}")


@dataclass(frozen=True)
class IntentSpec:
    """Words pointing to an intent: `strong` settle it, `keywords` point, `weak` lean; `whole` are entire messages.

    A "#" in a word stands for any number ("少#块"); `patterns` are regexes on the NFKC, lower-cased text.
    """

    id: str
    label: str
    strong: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    whole: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class WordSpec:
    """Where words of the library (key words, cues) may match: the `[words]` table of intents.toml.

    A word counts only where it is not inside one longer word of the message as the segmenter cuts it
    (单号 in 订单号, 码 in 号码), unless it is listed in `free`; `exclusions` name longer words a word must
    never be read inside, wherever the segmenter cuts (喂 in 喂奶).
    """

    free: tuple[str, ...] = ()
    exclusions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClauseSpec:
    """How a message splits into clauses: the `[clauses]` table of intents.toml.

    `cards` are regexes for order or product cards that platforms paste in (context, not the question);
    `openers` and `closers` are social words split off the start or end of a clause ("你好我的快递…");
    a clause whose key words all belong to a `social` intent never decides when another clause says more;
    `intensifiers` (真的, 非常 …) left beside a social word belong to it ("真的很|感谢" thanks, says no more);
    `listings` are regexes for the fields of a pasted item listing (its price tag, its sales): cut out with the
    title before them, the clauses there that ask nothing.
    """

    cards: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()
    openers: tuple[str, ...] = ()
    closers: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    intensifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionSpec:
    """What makes a clause a question or request (it leads a message of several clauses), and the fallback intent.

    `fallback` is the intent given to a question nothing else claims (usually `product_info`). `which` are words
    written with 那 (that) that buyers type for 哪 (which): in a clause with no marker they ask which when the
    clause opens with one and ends in one of the `judgements` (那个颜色好看), or follows an asking opener (请问).
    """

    markers: tuple[str, ...] = ()
    unasked: tuple[str, ...] = ()
    fallback: str | None = None
    which: tuple[str, ...] = ()
    judgements: tuple[str, ...] = ()


@dataclass(frozen=True)
class TypeCues:
    """Matching words for a customer type kept with the vocabulary ([types.<id>] in intents.toml).

    They add to the type's own cues in customer_types.toml; `intents` are intents whose key words, when a
    message shows them, are weaker evidence for the type (haggling → bargainer).
    """

    id: str
    cues: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerTypeSpec:
    """A kind of customer from customer_types.toml, with what they buy, cues and the agent's script.

    Cue words come in three strengths: `strong` settle the type, `cues` point to it, `weak` only lean
    towards it; `patterns` are regexes over one clause of a message.
    """

    id: str
    label: str
    buys: str = ""
    description: str = ""
    cues: tuple[str, ...] = ()
    strong: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    script: tuple[str, ...] = ()
    # The default type's words that show the customer has ordered (收到了, 退款), and its track for them then.
    ordered: tuple[str, ...] = ()
    ordered_script: tuple[str, ...] = ()


def string_list(value: Any, file: str, pid: str, key: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(file, pid, _("'%(key)s' must be a list of strings", key=key)))
        return ()
    return tuple(v.strip() for v in value if v.strip())


def string_value(value: Any, file: str, pid: str, key: str, problems: list[Problem], required: bool = True) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None and not required:
        return ""
    reason = (
        _("'%(key)s' must be a non-empty string", key=key) if value is not None else _("missing '%(key)s'", key=key)
    )
    problems.append(Problem(file, pid, reason))
    return ""


def holds(longer: str, word: str) -> bool:
    """Whether `longer` contains `word`, a "#" number slot in it filled by any number (两码事 holds #码)."""
    if "#" not in word:
        return word in longer
    return re.search(NUMBER.join(re.escape(part) for part in word.split("#")), longer) is not None


def parse_words(data: Mapping[str, Any], problems: list[Problem]) -> WordSpec:
    """The `[words]` table of intents.toml: free substrings and exclusions."""
    file = "intents.toml"
    table = data.get("words", {})
    if not isinstance(table, dict):
        problems.append(Problem(file, "words", _("must be a table")))
        return WordSpec()
    for key in sorted(set(table) - {"free", "exclusions"}):
        problems.append(Problem(file, "words", _("unknown key '%(key)s'", key=key)))
    free = string_list(table.get("free"), file, "words", "free", problems)
    raw = table.get("exclusions", {})
    exclusions: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        problems.append(Problem(file, "words.exclusions", _("must be a table of word = [longer words]")))
        raw = {}
    for word, longer in raw.items():
        words = string_list(longer, file, "words.exclusions", word, problems)
        for other in words:
            if not holds(other, word.strip()) or other == word.strip():
                reason = _("%(word)s: %(other)s does not contain it", word=repr(word), other=repr(other))
                problems.append(Problem(file, "words.exclusions", reason))
        if word.strip() and words:
            exclusions[word.strip()] = words
    return WordSpec(free=free, exclusions=MappingProxyType(exclusions))


def parse_clauses(data: Mapping[str, Any], problems: list[Problem]) -> ClauseSpec:
    """The `[clauses]` table of intents.toml."""
    file = "intents.toml"
    table = data.get("clauses", {})
    if not isinstance(table, dict):
        problems.append(Problem(file, "clauses", _("must be a table")))
        return ClauseSpec()
    for key in sorted(set(table) - {"cards", "listings", "openers", "closers", "social", "intensifiers"}):
        problems.append(Problem(file, "clauses", _("unknown key '%(key)s'", key=key)))
    social = string_list(table.get("social"), file, "clauses", "social", problems)
    for intent in social:
        if intent not in INTENTS:
            problems.append(Problem(file, "clauses", _("unknown intent %(intent)s", intent=repr(intent))))
    return ClauseSpec(
        cards=_patterns(table.get("cards"), file, "clauses", problems),
        listings=_patterns(table.get("listings"), file, "clauses", problems),
        openers=string_list(table.get("openers"), file, "clauses", "openers", problems),
        closers=string_list(table.get("closers"), file, "clauses", "closers", problems),
        social=social,
        intensifiers=string_list(table.get("intensifiers"), file, "clauses", "intensifiers", problems),
    )


def parse_intents(
    data: Mapping[str, Any], problems: list[Problem]
) -> tuple[dict[str, IntentSpec], NormalizationData, QuestionSpec, dict[str, TypeCues]]:
    """Parse intents.toml: intents, normalization data, question markers and extra type cues."""
    file = "intents.toml"
    known = {"intent", "synonyms", "normalization", "questions", "types", "words", "clauses"}
    for key in sorted(set(data) - known):
        problems.append(Problem(file, "", _("unknown key '%(key)s'", key=key)))
    table = data.get("intent", {})
    if not isinstance(table, dict):
        problems.append(Problem(file, "", _("'intent' must be a table of intents")))
        table = {}
    intents: dict[str, IntentSpec] = {}
    for intent_id in INTENTS:
        intents[intent_id] = IntentSpec(id=intent_id, label=intent_id)
    for intent_id, spec in table.items():
        where = f"intent.{intent_id}"
        if intent_id not in INTENTS:
            problems.append(Problem(file, where, _("unknown intent %(intent)s", intent=repr(intent_id))))
            continue
        if not isinstance(spec, dict):
            problems.append(Problem(file, where, _("must be a table")))
            continue
        for key in sorted(set(spec) - _INTENT_KEYS):
            problems.append(Problem(file, where, _("unknown key '%(key)s'", key=key)))
        patterns = _patterns(spec.get("patterns"), file, where, problems)
        intents[intent_id] = IntentSpec(
            id=intent_id,
            label=string_value(spec.get("label"), file, where, "label", problems, required=False) or intent_id,
            strong=string_list(spec.get("strong"), file, where, "strong", problems),
            keywords=string_list(spec.get("keywords"), file, where, "keywords", problems),
            weak=string_list(spec.get("weak"), file, where, "weak", problems),
            whole=string_list(spec.get("whole"), file, where, "whole", problems),
            patterns=patterns,
        )
    synonyms_raw = data.get("synonyms", {})
    synonyms: dict[str, str] = {}
    if not isinstance(synonyms_raw, dict):
        problems.append(Problem(file, "synonyms", _("must be a table of variant = canonical")))
    else:
        for key, value in synonyms_raw.items():
            if not isinstance(value, str) or not value.strip() or not key.strip():
                reason = _("%(key)s: canonical form must be a non-empty string", key=repr(key))
                problems.append(Problem(file, "synonyms", reason))
            else:
                synonyms[key.strip()] = value.strip()
    norm = data.get("normalization", {})
    if not isinstance(norm, dict):
        problems.append(Problem(file, "normalization", _("must be a table")))
        norm = {}
    for key in sorted(set(norm) - {"fillers", "traditional"}):
        problems.append(Problem(file, "normalization", _("unknown key '%(key)s'", key=key)))
    fillers = None
    if "fillers" in norm:
        fillers = string_list(norm.get("fillers"), file, "normalization", "fillers", problems)
    traditional: dict[str, str] = {}
    for pair in string_list(norm.get("traditional"), file, "normalization", "traditional", problems):
        if len(pair) != 2:
            reason = _("traditional entry %(pair)s must be two characters", pair=repr(pair))
            problems.append(Problem(file, "normalization", reason))
        else:
            traditional[pair[0]] = pair[1]
    normalization = NormalizationData(
        synonyms=MappingProxyType(synonyms),
        traditional=MappingProxyType(traditional),
        fillers=frozenset(fillers) if fillers is not None else DEFAULT_FILLERS,
    )
    questions_raw = data.get("questions", {})
    if not isinstance(questions_raw, dict):
        problems.append(Problem(file, "questions", _("must be a table")))
        questions_raw = {}
    for key in sorted(set(questions_raw) - {"markers", "unasked", "fallback", "which", "judgements"}):
        problems.append(Problem(file, "questions", _("unknown key '%(key)s'", key=key)))
    fallback = questions_raw.get("fallback")
    if fallback is not None and fallback not in INTENTS:
        problems.append(Problem(file, "questions", _("unknown fallback intent %(intent)s", intent=repr(fallback))))
        fallback = None
    questions = QuestionSpec(
        markers=string_list(questions_raw.get("markers"), file, "questions", "markers", problems),
        unasked=string_list(questions_raw.get("unasked"), file, "questions", "unasked", problems),
        fallback=fallback,
        which=string_list(questions_raw.get("which"), file, "questions", "which", problems),
        judgements=string_list(questions_raw.get("judgements"), file, "questions", "judgements", problems),
    )
    return intents, normalization, questions, _parse_type_cues(data.get("types", {}), file, problems)


def _parse_type_cues(table: Any, file: str, problems: list[Problem]) -> dict[str, TypeCues]:
    if not isinstance(table, dict):
        problems.append(Problem(file, "types", _("must be a table of customer types")))
        return {}
    out: dict[str, TypeCues] = {}
    for type_id, spec in table.items():
        where = f"types.{type_id}"
        if type_id not in TYPE_IDS:
            problems.append(Problem(file, where, _("unknown customer type %(type)s", type=repr(type_id))))
            continue
        if not isinstance(spec, dict):
            problems.append(Problem(file, where, _("must be a table")))
            continue
        for key in sorted(set(spec) - {"cues", "patterns", "intents"}):
            problems.append(Problem(file, where, _("unknown key '%(key)s'", key=key)))
        intents = string_list(spec.get("intents"), file, where, "intents", problems)
        for intent in intents:
            if intent not in INTENTS:
                problems.append(Problem(file, where, _("unknown intent %(intent)s", intent=repr(intent))))
        out[type_id] = TypeCues(
            id=type_id,
            cues=string_list(spec.get("cues"), file, where, "cues", problems),
            patterns=_patterns(spec.get("patterns"), file, where, problems),
            intents=intents,
        )
    return out


def _patterns(value: Any, file: str, where: str, problems: list[Problem]) -> tuple[str, ...]:
    patterns = string_list(value, file, where, "patterns", problems)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(
                Problem(file, where, _("bad pattern %(pattern)s: %(error)s", pattern=repr(pattern), error=exc))
            )
    return patterns


def parse_types(data: Mapping[str, Any], problems: list[Problem]) -> dict[str, CustomerTypeSpec]:
    file = "customer_types.toml"
    for key in sorted(set(data) - {"type"}):
        problems.append(Problem(file, "", _("unknown key '%(key)s'", key=key)))
    entries = data.get("type", [])
    if not isinstance(entries, list):
        problems.append(Problem(file, "", _("'%(key)s' must be an array of tables ([[%(key)s]])", key="type")))
        entries = []
    types: dict[str, CustomerTypeSpec] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(Problem(file, f"#{n}", _("a customer type must be a table")))
            continue
        tid = entry.get("id") if isinstance(entry.get("id"), str) else ""
        where = tid or f"#{n}"
        if tid not in TYPE_IDS:
            reason = _("unknown customer type id %(id)s", id=repr(tid)) if tid else _("missing '%(key)s'", key="id")
            problems.append(Problem(file, where, reason))
            continue
        if tid in types:
            problems.append(Problem(file, where, _("duplicate customer type")))
            continue
        for key in sorted(set(entry) - _TYPE_KEYS):
            problems.append(Problem(file, where, _("unknown key '%(key)s'", key=key)))
        patterns = _patterns(entry.get("patterns"), file, where, problems)
        script = string_list(entry.get("script"), file, where, "script", problems)
        if len(script) < 2:
            problems.append(Problem(file, where, _("needs at least %(n)s script lines", n=2)))
        types[tid] = CustomerTypeSpec(
            id=tid,
            label=string_value(entry.get("label"), file, where, "label", problems),
            buys=string_value(entry.get("buys"), file, where, "buys", problems, required=False),
            description=string_value(entry.get("description"), file, where, "description", problems, required=False),
            cues=string_list(entry.get("cues"), file, where, "cues", problems),
            strong=string_list(entry.get("strong"), file, where, "strong", problems),
            weak=string_list(entry.get("weak"), file, where, "weak", problems),
            patterns=patterns,
            script=script,
            ordered=string_list(entry.get("ordered"), file, where, "ordered", problems),
            ordered_script=string_list(entry.get("ordered_script"), file, where, "ordered_script", problems),
        )
    return types


def read_toml(path: Path, problems: list[Problem], optional: bool = False, name: str = "") -> dict[str, Any] | None:
    """A TOML file's table; None (and the problem noted, under `name` or the file's) when it cannot be read."""
    if optional and not path.exists():
        return None
    try:
        return load_toml(path)
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(name or path.name, "", _("not valid TOML: %(error)s", error=exc)))
    except OSError as exc:  # the reason in the interface language, not "[Errno 21] Is a directory: '/…/x.toml'"
        problems.append(Problem(name or path.name, "", _("cannot read: %(error)s", error=os_reason(exc))))
    return None
