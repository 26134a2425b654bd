"""Answers from the product catalog as suggestions, and phrases rendered with the conversation's item."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jinja2 import Template

from assistant import store
from assistant.catalog.answers import (
    ASK_FOOT,
    ASK_HEIGHT,
    ASK_OVER_BUST,
    ASK_UNDER_BUST,
    ASK_WEIGHT,
    FACT,
    NO_SIZE,
    NOT_TOLD,
    SIZE,
    SIZE_CONFLICT,
    Answer,
    Fact,
    answers,
    intents_answered,
    spoken,
)
from assistant.catalog.compare import COMPARE, compared, speaks_of_two
from assistant.catalog.focus import ItemFocus, LookupFailed, event_item
from assistant.catalog.links import item_in, items_in
from assistant.catalog.store import Catalog, Item
from assistant.config import CatalogConfig, ConfigError
from assistant.conversations import ConversationState
from assistant.events import Event
from assistant.i18n import _
from assistant.suggest.matcher import Suggestion, suggestion_json
from assistant.suggest.phrases import Library, PlainText, check_template, make_environment

log = logging.getLogger(__name__)

ANSWER_SCORE = 100.0  # an answer read from the item's own facts or chart is as sure as a suggestion gets
# Each kind of answer: its template key in [catalog], its phrase id (what `suggestion_used` logs) and code.
KINDS: Mapping[str, tuple[str, str, str]] = {
    FACT: ("fact_answer", "catalog.fact", "fact"),
    SIZE: ("size_answer", "catalog.size", "size"),
    ASK_HEIGHT: ("ask_height", "catalog.ask_height", "size"),
    ASK_WEIGHT: ("ask_weight", "catalog.ask_weight", "size"),
    ASK_UNDER_BUST: ("ask_under_bust", "catalog.ask_under_bust", "size"),
    ASK_OVER_BUST: ("ask_over_bust", "catalog.ask_over_bust", "size"),
    ASK_FOOT: ("ask_foot", "catalog.ask_foot", "size"),
    NO_SIZE: ("no_size", "catalog.no_size", "size"),
    SIZE_CONFLICT: ("size_conflict", "catalog.size_conflict", "size"),
    COMPARE: ("compare_answer", "catalog.compare", "compare"),
    NOT_TOLD: ("not_told", "catalog.not_told", "fact"),
}
# The variables an answer template may use besides `item`, with sample values to check it against.
SAMPLE_VALUES: Mapping[str, str] = {
    "facts": "面料是95%棉 5%氨纶", "name": "面料", "value": "95%棉 5%氨纶", "measures": "165cm/110斤",
    "height": "165", "weight": "110", "size": "L码", "size_label": "L",
    "span": "身高150-185cm，体重80-160斤", "wearer": "您", "smallest": "S码", "largest": "2XL码",
    "by_body": "M码", "girth": "胸围96cm", "by_girth": "L码", "answers": "第一款面料是棉，第二款面料是锦纶",
    "asked": "是鸭绒还是鹅绒",
    "shop": "本店", "customer": "亲", "agent": "",
}  # fmt: skip


@dataclass(frozen=True)
class ItemSuggestion(Suggestion):
    """A suggestion built from the catalog, with the facts it used (the panel shows them)."""

    facts: tuple[Fact, ...] = ()


def suggestion_dict(s: Suggestion) -> dict[str, Any]:
    """The JSON shape of a suggestion; one from the catalog also lists its `facts`."""
    body = suggestion_json(s)
    if isinstance(s, ItemSuggestion):
        body["facts"] = [{"name": f.name, "value": f.value} for f in s.facts]
    return body


def suggestion_dicts(suggestions: Sequence[Suggestion]) -> list[dict[str, Any]]:
    """The JSON shapes of a message's suggestions, in one call (the answer to every customer message makes them)."""
    return [suggestion_dict(s) if isinstance(s, ItemSuggestion) else suggestion_json(s) for s in suggestions]


def item_variables(item: Item) -> dict[str, Any]:
    """`{{ item }}` for a phrase: id, title, `attrs`, and each attribute by name (unless it is one of those)."""
    attrs = dict(item.attrs)
    return {**attrs, "id": item.id, "title": item.title, "attrs": attrs}


class ItemAnswers:
    """The conversations' items, the catalog they are read from, and the wording of the catalog's answers."""

    def __init__(self, settings: CatalogConfig, db_path: store.Location) -> None:
        self.catalog = Catalog(db_path)
        self.focus = ItemFocus(db_path)
        self.templates = compile_templates(settings)

    def item_of(self, state: ConversationState | None, text: str, named: str | None = None) -> str | None:
        """The item a message is about: the one it names (`item`, a link in its text), else its conversation's."""
        found = named or item_in(text)
        if found is None and state is not None:
            if not state.item_known:
                try:
                    state.item = self.focus.lookup(state.shop, state.conversation)
                except LookupFailed:  # logged there; looked up again at the next message
                    return None
                state.item_known = True
            found = state.item
        return found

    def title_of(self, item_id: str | None) -> str:
        """The item's title in the catalog; empty when there is no item or the catalog does not have it."""
        item = self.catalog.item(item_id) if item_id else None
        return item.title if item is not None else ""

    def observe(self, event: Event, state: ConversationState) -> None:
        """Listener: a newly logged message that names an item makes it its conversation's item."""
        item = event_item(event)
        if item is not None:
            state.item, state.item_known = item, True

    def amend(
        self,
        suggestions: Sequence[Suggestion],
        text: str,
        *,
        item_id: str | None,
        earlier: Sequence[str],
        variables: Mapping[str, str],
        library: Library,
        k: int,
        shop: str = "",
    ) -> list[Suggestion]:
        """Answers from the item's facts and chart lead; phrases that use `item` are rendered with it (`shop`: the
        conversation's, whose own phrases it may have got)."""
        item = self.catalog.item(item_id) if item_id else None
        if item is None:
            return list(suggestions)
        values = item_variables(item)
        rendered = [
            dataclasses.replace(s, text=library.render(s.phrase_id, variables, item=values, shop=shop))
            if library.uses_item(s.phrase_id, shop)
            else s
            for s in suggestions
        ]
        intent = suggestions[0].intent if suggestions else None
        # A message linking two items, or speaking of two (这两款), compares them: an answer about the last one
        # alone would read as the comparison's, so each is answered or none.
        linked = items_in(text)
        if len(linked) >= 2 or speaks_of_two(text):
            ids = linked if len(linked) >= 2 else linked_before([*earlier, text])[-2:]  # one here, one before
            found_items = [self.catalog.item(i) for i in ids]
            goods = [i for i in found_items if i is not None]
            if len(ids) < 2:  # 这两款 with one item known: what it has, and the other asked for
                given = one_of_two(answers(item, text, earlier, intent=intent), intent)
            else:
                given = compared(goods, text, earlier, intent=intent) if len(goods) == len(ids) else []
        else:
            given = answers(item, text, earlier, intent=intent)
        lead = [self._suggestion(a, variables, values) for a in given]
        found = [s for s in lead if s is not None]
        # Where the item's own fact answers, the library's phrases of that intent speak of no item and may say
        # otherwise (现货48小时内发出 under 预售 付款后15天内发货): only those written with the item stay.
        answered = {i for a, s in zip(given, lead) if s is not None for i in intents_answered(a)}
        rendered = [s for s in rendered if s.intent not in answered or s.phrase_id in library.item_phrases]
        return [*found, *rendered][: max(k, len(found))]

    def card(self, item_id: str | None, suggestions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        """What a panel shows of the item: id, title (None when not in the catalog) and the facts answers used."""
        if not item_id:
            return None
        item = self.catalog.item(item_id)
        facts = [f for s in suggestions for f in s.get("facts", ())]
        return {"id": item_id, "title": item.title if item else None, "facts": facts}

    def close(self) -> None:
        self.catalog.close()
        self.focus.close()

    def _suggestion(self, answer: Answer, variables: Mapping[str, str], item: Mapping[str, Any]) -> Suggestion | None:
        key, phrase_id, code = KINDS[answer.kind]
        try:
            text = self.templates[key].render({**variables, **answer.values, "item": item}).strip()
        except Exception:  # a template checked at start can still miss an attribute this item lacks
            log.exception("[catalog] %s could not be rendered for item %s", key, item.get("id"))
            return None
        return ItemSuggestion(
            phrase_id=phrase_id,
            intent=answer.intent,
            code=code,
            text=text,
            score=ANSWER_SCORE,
            trigger=answer.trigger,
            facts=answer.facts,
        )


# 这两款 with one item known: the answer says what the item has and asks which the other one is.
OTHER_ASKED = "您说的另一款是哪一件呢？发下链接我帮您对比"


def one_of_two(given: Sequence[Answer], intent: str | None) -> list[Answer]:
    """The answers about the one item known when the buyer speaks of two (这两款面料一样吗): each fact or size said of
    这款, then the other item asked for; a comparison asked with no fact the item has (这两款哪个好) asks for it alone.

    A size the chart does not have, or two charts' sizes at odds, would read as the comparison's: left out.
    """
    said: list[Answer] = []
    for a in given:
        if a.kind == FACT:
            told = "这款" + "，".join(spoken(f) for f in a.facts)
        elif a.kind == SIZE:
            told = f"按{a.values['measures']}，这款建议拿{a.values['size']}"
        elif a.kind in (NO_SIZE, SIZE_CONFLICT):
            continue
        else:
            said.append(a)  # a measure asked for (身高, 体重) holds for both items
            continue
        values = MappingProxyType({"answers": f"{told}；{OTHER_ASKED}"})
        said.append(Answer(COMPARE, a.intent, values, a.facts, a.trigger))
    if not said and intent == "product_info":
        said.append(Answer(COMPARE, intent, MappingProxyType({"answers": OTHER_ASKED}), (), "这两款"))
    return said


def linked_before(earlier: Sequence[str]) -> list[str]:
    """The items the buyer's earlier messages link, each once, in the order last linked."""
    ids = [i for text in earlier for i in items_in(text)]
    return [i for n, i in enumerate(ids) if i not in ids[n + 1 :]]


def compile_templates(settings: CatalogConfig) -> dict[str, Template | PlainText]:
    """The [catalog] answer templates, checked like phrases; a bad one raises ConfigError naming its key."""
    env = make_environment()
    compiled: dict[str, Template | PlainText] = {}
    for key, _kind, _intents in KINDS.values():
        source = getattr(settings, key)
        template, reasons = check_template(env, source, SAMPLE_VALUES)
        if template is None:
            raise ConfigError(_("%(key)s: %(error)s", key=f"[catalog] {key}", error=_("; ").join(reasons)))
        if not template.render({**SAMPLE_VALUES, "item": {"id": "", "title": "", "attrs": {}}}).strip():
            raise ConfigError(_("%(key)s: renders empty", key=f"[catalog] {key}"))
        compiled[key] = template
    return compiled
