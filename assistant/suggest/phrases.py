"""The quick-phrase library: TOML files in `phrases/` loaded, validated and rendered (sandboxed Jinja2)."""

from __future__ import annotations

import dataclasses
import difflib
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

from assistant.i18n import _
from assistant.suggest.examples import Example, load_examples
from assistant.suggest.phrase_cache import PhraseFileCache, loading
from assistant.suggest.phrase_layers import layered_tables
from assistant.suggest.phrase_rules import intent_problems
from assistant.suggest.phrase_templates import (
    ITEM_PLACEHOLDER,
    MAX_RENDERED_CHARS,
    MAX_VARIABLE_CHARS,
    PlainText,
    check_template,
    cut_item,
    make_environment,
    uses_item,
    visible_length,
)
from assistant.suggest.textnorm import NormalizationData, Normalizer
from assistant.suggest.vocabulary import (
    ASSISTANT_INTENTS,
    DEFAULT_TYPE,
    INTENTS,
    TYPE_IDS,
    ClauseSpec,
    CustomerTypeSpec,
    IntentSpec,
    LibraryError,
    Problem,
    QuestionSpec,
    TypeCues,
    WordSpec,
    parse_clauses,
    parse_intents,
    parse_types,
    parse_words,
    read_toml,
    string_list,
    string_value,
)

__all__ = [
    "ASSISTANT_INTENTS", "DEFAULT_TYPE", "INTENTS", "TYPE_IDS", "ClauseSpec", "CustomerTypeSpec", "IntentSpec",
    "Library", "LibraryError", "MAX_RENDERED_CHARS", "MAX_VARIABLE_CHARS", "Phrase", "PlainText", "Problem",
    "QuestionSpec", "TypeCues", "WordSpec", "check_template", "make_environment", "visible_length",
]  # fmt: skip

# Answers about the goods must say something: at least PRODUCT_MIN_CHARS characters.
PRODUCT_INTENTS = frozenset({"product_info", "size_advice", "stock", "quality_issue", "authenticity"})
MIN_CHARS = 4
PRODUCT_MIN_CHARS = 15

# Neutral stand-ins for variables the caller does not know; `shop` is usually overridden from config.
DEFAULT_VARIABLES: Mapping[str, str] = MappingProxyType(
    {"shop": "本店", "agent": "", "customer": "亲", "product": "这款宝贝", "order": "您的订单", "amount": "__"}
)
RENDER_CACHE = 20_000  # rendered texts remembered (phrase and variables)
_RENDER_LOCK = threading.Lock()
_PHRASE_KEYS = frozenset({"id", "intent", "code", "text", "triggers", "types", "goods", "group"})
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Phrase:
    """One quick phrase (快捷短语); `text` is the Jinja2 source."""

    id: str
    intent: str
    code: str
    text: str
    triggers: tuple[str, ...]
    types: tuple[str, ...] = ()
    group: str = ""
    file: str = ""
    goods: tuple[str, ...] = ()  # fits only a message (or item) naming one of these: its kind of goods
    shop: str = ""  # a shop's own phrase (`[phrases.shops]`): suggested and sent in that shop's conversations only


@dataclass(frozen=True, eq=False)
class Library:
    """A validated phrase library; build it with `Library.load` or `Library.build`."""

    phrases: tuple[Phrase, ...]
    intents: Mapping[str, IntentSpec]
    customer_types: Mapping[str, CustomerTypeSpec]
    normalization: NormalizationData
    variables: Mapping[str, str]
    questions: QuestionSpec = QuestionSpec()
    type_cues: Mapping[str, TypeCues] = field(default_factory=dict)
    words: WordSpec = WordSpec()
    clauses: ClauseSpec = ClauseSpec()
    # Labeled customer messages the learned scorer trains on (examples/*.tsv), with the phrases' triggers.
    examples: tuple[Example, ...] = ()
    directory: Path | None = None
    layers: tuple[Path, ...] = ()  # every directory of `[phrases] path`, the first one's first
    by_id: Mapping[str, Phrase] = field(default_factory=dict, repr=False)
    by_intent: Mapping[str, tuple[Phrase, ...]] = field(default_factory=dict, repr=False)  # shared, in file order
    _templates: Mapping[str, Template | PlainText] = field(default_factory=dict, repr=False)
    # Each phrase's triggers as the library's normalizer sees them (the matcher reuses them).
    normalized_triggers: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    item_phrases: frozenset[str] = frozenset()  # ids of the phrases whose text uses `item`
    # Each shop's own phrases (`[phrases.shops]`), beside the shared ones above; and the shared ids each shop's
    # phrases replace there (the same code or id). Templates and item use of them are keyed by (shop, id).
    shop_phrases: Mapping[str, tuple[Phrase, ...]] = field(default_factory=dict, repr=False)
    hidden: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _shop_templates: Mapping[tuple[str, str], Template | PlainText] = field(default_factory=dict, repr=False)
    shop_item_phrases: frozenset[tuple[str, str]] = frozenset()
    # Templated phrases rendered without an item, by their variables: the same shop, agent and customer
    # ask for the same text message after message (a sandboxed render is pure, and costs a tenth of a ms).
    _rendered: dict[tuple[str, tuple[tuple[str, str], ...]], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def load(
        cls,
        directory: Path | str | Sequence[Path | str],
        extra_variables: Mapping[str, str] = MappingProxyType({}),
        *,
        include_demo: bool = True,
        skip: Iterable[Path | str] = (),
        shops: Mapping[str, Sequence[Path | str]] = MappingProxyType({}),
        cache: PhraseFileCache | None = None,
    ) -> Library:
        """Read every TOML file of `directory` (or of several layered directories: the vocabulary is the
        first one's, a later layer's phrase replaces an earlier one of the same code or id; without
        `include_demo` the first directory's phrases are left out; files of `skip`, the quality rules, are
        not phrase groups), and each shop's own layers of `shops`; raise LibraryError listing all problems.
        `cache`: the files unchanged since its last load are neither read nor checked again (phrase_cache.py).
        """
        skipped = {Path(p).resolve() for p in skip}
        layers = [Path(directory)] if isinstance(directory, (str, Path)) else [Path(d) for d in directory]
        own = {shop: [Path(d) for d in dirs] for shop, dirs in shops.items()}
        directory = layers[0]
        problems: list[Problem] = []
        missing = [
            Problem(str(d), "", _("not a directory") if d.exists() else _("no such file or directory"))
            for d in [*layers, *(d for dirs in own.values() for d in dirs)]
            if not d.is_dir()
        ]
        if missing:
            raise LibraryError(missing)
        with loading(cache, directory, extra_variables):
            lines: dict[int, int] = {}
            tables = layered_tables(layers, skipped, problems, lines, demo=True, include_demo=include_demo, cache=cache)
            shop_tables = {
                shop: layered_tables(dirs, skipped, problems, lines, cache=cache) for shop, dirs in own.items()
            }
            intents_data = read_toml(directory / "intents.toml", problems, optional=True) or {}
            types_data = read_toml(directory / "customer_types.toml", problems, optional=True) or {}
            examples = load_examples(directory, problems)
            library = cls.build(
                tables,
                intents_data,
                types_data,
                extra_variables,
                directory,
                problems,
                shop_files=shop_tables,
                phrase_lines=lines,
                cache=cache,
            )
            return dataclasses.replace(library, examples=examples, layers=tuple(layers))

    @classmethod
    def build(
        cls,
        phrase_files: Sequence[tuple[str, Mapping[str, Any]]],
        intents_data: Mapping[str, Any] | None = None,
        types_data: Mapping[str, Any] | None = None,
        extra_variables: Mapping[str, str] = MappingProxyType({}),
        directory: Path | None = None,
        problems: list[Problem] | None = None,
        *,
        shop_files: Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]] = MappingProxyType({}),
        phrase_lines: Mapping[int, int] = MappingProxyType({}),
        cache: PhraseFileCache | None = None,
    ) -> Library:
        """Validate already-parsed TOML tables (file name, table) into a library, or raise LibraryError;
        `shop_files`: each shop's own tables, whose phrases replace shared ones of the same code or id there;
        `phrase_lines`: the line of each phrase table's `[[phrase]]`, by the table's id(), for the problems."""
        problems = problems if problems is not None else []
        variables = dict(DEFAULT_VARIABLES)
        for name, value in extra_variables.items():
            if not _VARIABLE_NAME.fullmatch(name):
                problems.append(
                    Problem("config", "", _("variable name %(name)s is not an identifier", name=repr(name)))
                )
            variables[name] = str(value)
        intents, normalization, questions, type_cues = parse_intents(intents_data or {}, problems)
        customer_types = parse_types(types_data or {}, problems)
        words_spec = parse_words(intents_data or {}, problems)
        clauses = parse_clauses(intents_data or {}, problems)
        words = [w for spec in intents.values() for w in (*spec.strong, *spec.keywords, *spec.weak, *spec.whole)]
        words += [c for spec in customer_types.values() for c in (*spec.strong, *spec.cues, *spec.weak)]
        words += [c for spec in type_cues.values() for c in spec.cues]
        words += list(normalization.synonyms.values())
        fillers = "".join(normalization.fillers)
        protected = frozenset(w for w in words if any(ch in w for ch in fillers) and w not in normalization.fillers)
        normalization = dataclasses.replace(normalization, protected=protected)
        normalizer = Normalizer(normalization)
        env = make_environment()
        parsed = _Parsed(env, variables, normalizer, problems, phrase_lines, cache)
        phrases, templates, normalized, item_phrases = parsed.collect(phrase_files)
        problems += _without_generic(phrases)
        shop_phrases: dict[str, tuple[Phrase, ...]] = {}
        hidden: dict[str, frozenset[str]] = {}
        shop_templates: dict[tuple[str, str], Template | PlainText] = {}
        shop_items: set[tuple[str, str]] = set()
        for shop, files in shop_files.items():
            own, own_templates, _normalized, own_items = parsed.collect(files, shop)
            codes, ids = {p.code.lower() for p in own}, {p.id for p in own}
            hidden[shop] = frozenset(p.id for p in phrases if p.id in ids or p.code.lower() in codes)
            problems += _without_generic([*own, *(p for p in phrases if p.id not in hidden[shop])])
            shop_phrases[shop] = tuple(own)
            shop_templates.update(((shop, pid), t) for pid, t in own_templates.items())
            shop_items.update((shop, pid) for pid in own_items)
        normalizer.release()  # used up: freed now, not left to a collection (a reload freezes the heap after it)
        if problems:
            raise LibraryError(problems)
        return cls(
            phrases=tuple(phrases),
            intents=MappingProxyType(intents),
            customer_types=MappingProxyType(customer_types),
            normalization=normalization,
            variables=MappingProxyType(variables),
            questions=questions,
            type_cues=MappingProxyType(type_cues),
            words=words_spec,
            clauses=clauses,
            directory=directory,
            by_id=MappingProxyType({p.id: p for p in phrases}),
            by_intent=MappingProxyType(_grouped_by_intent(phrases)),
            _templates=MappingProxyType(templates),
            normalized_triggers=MappingProxyType(normalized),
            item_phrases=frozenset(item_phrases),
            shop_phrases=MappingProxyType(shop_phrases),
            hidden=MappingProxyType(hidden),
            _shop_templates=MappingProxyType(shop_templates),
            shop_item_phrases=frozenset(shop_items),
        )

    def visible(self, shop: str) -> list[Phrase]:
        """The phrases a conversation of `shop` may get: the shop's own first, then the shared ones it keeps."""
        own = self.shop_phrases.get(shop)
        if not own:
            return list(self.phrases)
        hidden = self.hidden[shop]
        return [*own, *(p for p in self.phrases if p.id not in hidden)]

    def of_intent(self, intent: str, shop: str) -> list[Phrase]:
        """`visible(shop)`'s phrases of one intent, in its order, without a pass over the whole library (a
        follow-up asked three times, each pass 5 ms of the writer's CPU at 20,000 phrases)."""
        shared = self.by_intent.get(intent, ())
        own = self.shop_phrases.get(shop)
        if not own:
            return list(shared)
        hidden = self.hidden[shop]
        return [*(p for p in own if p.intent == intent), *(p for p in shared if p.id not in hidden)]

    def uses_item(self, phrase_id: str, shop: str = "") -> bool:
        """Whether the phrase of this id a conversation of `shop` gets refers to `item` (rendered again with it)."""
        if shop and (shop, phrase_id) in self._shop_templates:
            return (shop, phrase_id) in self.shop_item_phrases
        return phrase_id in self.item_phrases

    def find(self, phrase_id: str, shop: str = "") -> Phrase | None:
        """The phrase of this id a conversation of `shop` gets: the shop's own, else the shared one it keeps."""
        for p in self.shop_phrases.get(shop, ()):
            if p.id == phrase_id:
                return p
        if phrase_id in self.hidden.get(shop, ()):
            return None
        return self.by_id.get(phrase_id)

    def render(
        self,
        phrase_id: str,
        variables: Mapping[str, str] = MappingProxyType({}),
        item: Mapping[str, Any] | None = None,
        shop: str = "",
    ) -> str:
        """The phrase's text for these variables (and item); missing or empty ones take the library's defaults;
        `shop`: a conversation's shop, whose own phrase of this id is rendered when it has one.

        Never longer than MAX_RENDERED_CHARS: values (the item's too) are cut to MAX_VARIABLE_CHARS, and the
        checked template cannot grow them past the bound.
        """
        own = self._shop_templates.get((shop, phrase_id)) if shop and self._shop_templates else None
        template = own if own is not None else self._templates[phrase_id]
        if isinstance(template, PlainText):  # most phrases: no variables to fill
            return template.text.strip()
        if item is not None:
            return self._render(template, variables, item)
        key = (phrase_id if own is None else f"{shop}\x1f{phrase_id}", tuple(variables.items()))
        try:
            text = self._rendered.get(key)
        except TypeError:  # a value that cannot be a key: rendered each time
            return self._render(template, variables, None)
        if text is None:
            text = self._render(template, variables, None)
            with _RENDER_LOCK:  # follow-ups render in the writer's thread too
                self._rendered[key] = text
                if len(self._rendered) > RENDER_CACHE:
                    del self._rendered[next(iter(self._rendered))]  # the oldest
        return text

    def clear_caches(self) -> None:
        """Forget every rendered text (benchmarks measure first renders)."""
        with _RENDER_LOCK:
            self._rendered.clear()

    def release(self) -> None:
        """Let go of the reference cycles of a replaced library, so that reference counting frees it: a compiled
        Jinja2 template's render function has globals that hold the function again and the template (the latter
        only for tracebacks of a failed render). The template holds the function itself: the library still
        renders (a follow-up may hold it a while)."""
        self.clear_caches()
        for template in (*self._templates.values(), *self._shop_templates.values()):
            if isinstance(template, Template):
                namespace = template.root_render_func.__globals__
                namespace.pop("root", None)
                namespace.pop("__jinja_template__", None)

    def _render(
        self, template: Template | PlainText, variables: Mapping[str, str], item: Mapping[str, Any] | None
    ) -> str:
        values: dict[str, Any] = dict(self.variables)
        values.update({k: str(v)[:MAX_VARIABLE_CHARS] for k, v in variables.items() if v not in (None, "")})
        values["item"] = cut_item(item) if item is not None else ITEM_PLACEHOLDER
        try:
            text = template.render(values)
        except Exception:
            text = template.render({**self.variables, "item": ITEM_PLACEHOLDER})
        return text.strip()[:MAX_RENDERED_CHARS]


class _Parsed:
    """Phrase tables parsed into phrases, their templates and normalized triggers, with every problem noted."""

    def __init__(
        self,
        env: SandboxedEnvironment,
        variables: Mapping[str, str],
        normalizer: Normalizer,
        problems: list[Problem],
        lines: Mapping[int, int],
        cache: PhraseFileCache | None = None,
    ) -> None:
        self.env, self.variables, self.normalizer, self.problems = env, variables, normalizer, problems
        self.lines, self.cache = lines, cache

    def collect(
        self, files: Sequence[tuple[str, Mapping[str, Any]]], shop: str = ""
    ) -> tuple[list[Phrase], dict[str, Template | PlainText], dict[str, tuple[str, ...]], set[str]]:
        """Phrases with unique ids and codes (case-insensitive), in file order; `shop`: whose own they are."""
        phrases: list[Phrase] = []
        templates: dict[str, Template | PlainText] = {}
        normalized: dict[str, tuple[str, ...]] = {}
        item_phrases: set[str] = set()
        seen_codes: dict[str, str] = {}
        seen_ids: dict[str, str] = {}  # id → the file that has it first
        problems = self.problems
        for file, data in files:
            for phrase, template, triggers, line in _parse_phrase_file(
                file, data, self.env, self.variables, self.normalizer, problems, self.lines, self.cache
            ):
                if phrase.id in seen_ids:  # "duplicate id" alone left the other phrase to be searched for
                    reason = _(
                        "duplicate id (also in %(file)s): each phrase needs its own id", file=seen_ids[phrase.id]
                    )
                    problems.append(Problem(file, phrase.id, reason, line))
                    continue
                seen_ids[phrase.id] = file
                code_key = phrase.code.lower()
                if code_key in seen_codes:
                    reason = _(
                        "duplicate code %(code)s (also %(other)s)", code=repr(phrase.code), other=seen_codes[code_key]
                    )
                    problems.append(Problem(file, phrase.id, reason, line))
                    continue
                seen_codes[code_key] = phrase.id
                templates[phrase.id] = template
                normalized[phrase.id] = triggers
                phrases.append(dataclasses.replace(phrase, shop=shop) if shop else phrase)
                if uses_item(self.env, phrase.text):
                    item_phrases.add(phrase.id)
        return phrases, templates, normalized, item_phrases


def _without_generic(phrases: Sequence[Phrase]) -> list[Problem]:
    """An intent whose every phrase names its `goods` would be silent for other goods: one must fit them all."""
    generic = {p.intent for p in phrases if not p.goods}
    first = {p.intent: p for p in reversed(phrases) if p.goods and p.intent not in generic}
    return [Problem(p.file, p.id, _("every phrase of %(intent)s lists 'goods': one without must answer other goods", intent=p.intent)) for p in first.values()]  # fmt: skip


def _parse_phrase_file(
    file: str,
    data: Mapping[str, Any],
    env: SandboxedEnvironment,
    variables: Mapping[str, str],
    normalizer: Normalizer,
    problems: list[Problem],
    lines: Mapping[int, int],
    cache: PhraseFileCache | None = None,
) -> list[tuple[Phrase, Template | PlainText, tuple[str, ...], int]]:
    """The file's phrases (with the line of each one's `[[phrase]]`, 0 when unknown); each problem noted with it."""
    unknown = set(data) - {"group", "phrase"}
    for key in sorted(unknown):
        problems.append(Problem(file, "", _unknown_key(key, {"group", "phrase"})))
    group = data.get("group", Path(file).stem)
    if not isinstance(group, str):
        problems.append(Problem(file, "", _("'%(key)s' must be a string", key="group")))
        group = Path(file).stem
    entries = data.get("phrase", [])
    if not isinstance(entries, list):
        problems.append(Problem(file, "", _("'%(key)s' must be an array of tables ([[%(key)s]])", key="phrase")))
        return []
    out: list[tuple[Phrase, Template | PlainText, tuple[str, ...], int]] = []
    for n, entry in enumerate(entries, 1):
        before = len(problems)
        parsed = cache.phrase(entry, n, group, file) if cache is not None else None
        if parsed is None:
            parsed = _parse_phrase(file, n, entry, group, env, variables, normalizer, problems)
            if cache is not None and parsed is not None and len(problems) == before:
                cache.keep_phrase(entry, n, group, file, parsed)
        line = lines.get(id(entry), 0)
        if line:  # the file's line, as an editor opens it: ids alone made a 2,000-phrase import hard to search
            problems[before:] = [dataclasses.replace(p, line=line) for p in problems[before:]]
        if parsed is not None:
            out.append((*parsed, line))
    return out


def _unknown_key(key: str, known: Iterable[str]) -> str:
    """`unknown key 'good'`, with the key it resembles when there is one (`goods`)."""
    if close := difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6):
        return _("unknown key '%(key)s' (did you mean '%(close)s'?)", key=key, close=close[0])
    return _("unknown key '%(key)s'", key=key)


def _parse_phrase(
    file: str,
    n: int,
    entry: Any,
    group: str,
    env: SandboxedEnvironment,
    variables: Mapping[str, str],
    normalizer: Normalizer,
    problems: list[Problem],
) -> tuple[Phrase, Template | PlainText, tuple[str, ...]] | None:
    if not isinstance(entry, dict):
        problems.append(Problem(file, f"#{n}", _("a phrase must be a table")))
        return None
    raw_id = entry.get("id")
    pid = raw_id.strip() if isinstance(raw_id, str) else ""
    where = pid or f"#{n}"
    before = len(problems)
    if not pid:
        problems.append(Problem(file, where, _("missing '%(key)s'", key="id")))
    for key in sorted(set(entry) - _PHRASE_KEYS):
        problems.append(Problem(file, where, _unknown_key(key, _PHRASE_KEYS)))
    intent = string_value(entry.get("intent"), file, where, "intent", problems)
    if intent and intent not in INTENTS:
        close = difflib.get_close_matches(intent, sorted(INTENTS), n=1, cutoff=0.75)
        if close:
            problems.append(Problem(file, where, _("unknown intent %(intent)s (did you mean %(close)s?)", intent=repr(intent), close=repr(close[0]))))  # fmt: skip
        else:
            problems.append(Problem(file, where, _("unknown intent %(intent)s", intent=repr(intent))))
    code = string_value(entry.get("code"), file, where, "code", problems)
    if code and (any(c.isspace() for c in code) or len(code) > 20):
        problems.append(
            Problem(
                file, where, _("code %(code)r must be a short word without spaces (at most 20 characters)", code=code)
            )
        )
    source = string_value(entry.get("text"), file, where, "text", problems)
    triggers = string_list(entry.get("triggers"), file, where, "triggers", problems)
    types = string_list(entry.get("types"), file, where, "types", problems)
    goods = string_list(entry.get("goods"), file, where, "goods", problems)
    if not all(normalizer.normalize(g) for g in goods):
        problems.append(Problem(file, where, _("a word of 'goods' is blank after normalizing")))
    for t in types:
        if t not in TYPE_IDS:
            problems.append(Problem(file, where, _("unknown customer type %(type)s", type=repr(t))))
    template: Template | PlainText | None = None
    if source:
        template, reasons = check_template(env, source, variables)
        problems.extend(Problem(file, where, r) for r in reasons)
    if template is not None:
        problems.extend(Problem(file, where, r) for r in intent_problems(env, intent, source))
        length = visible_length(template, variables)
        if length < MIN_CHARS:
            reason = _("text too short: %(n)s characters without variables (min %(min)s)", n=length, min=MIN_CHARS)
            problems.append(Problem(file, where, reason))
        elif intent in PRODUCT_INTENTS and length < PRODUCT_MIN_CHARS:
            reason = _("product answer too short: %(n)s characters (min %(min)s)", n=length, min=PRODUCT_MIN_CHARS)
            problems.append(Problem(file, where, reason))
    normalized = tuple(normalizer.normalize(t) for t in triggers)
    if intent not in ASSISTANT_INTENTS and not any(normalized):
        problems.append(Problem(file, where, _("no trigger can reach it (triggers empty or blank after normalizing)")))
    if len(problems) > before or template is None:
        return None
    own_group = entry.get("group")
    if own_group is not None and not (isinstance(own_group, str) and own_group.strip()):
        problems.append(Problem(file, where, _("'%(key)s' must be a non-empty string", key="group")))
        return None
    group = own_group.strip() if isinstance(own_group, str) else group
    phrase = Phrase(pid, intent, code, source, triggers, types, group, file, goods)  # in the fields' order
    return phrase, template, normalized


def _grouped_by_intent(phrases: Iterable[Phrase]) -> dict[str, tuple[Phrase, ...]]:
    grouped: dict[str, list[Phrase]] = {}
    for p in phrases:
        grouped.setdefault(p.intent, []).append(p)
    return {intent: tuple(group) for intent, group in grouped.items()}
