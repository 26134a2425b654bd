"""One customer message's matching as a request: what it needs, the pure answer, and its wire form for a worker.

The same `answer` runs in the service's process and in a matching worker (suggest/worker.py), so both give the
same suggestions and customer type for the same request. Frames on the pipe are a 4-byte big-endian length and
a msgpack body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from assistant.suggest.customer_type import named_type
from assistant.suggest.matcher import Context, CustomerType, Matcher, Suggestion
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.suggest.phrases import Library

HEADER = 4  # bytes of a frame's length


class Settings(msgspec.Struct, frozen=True, tag="init", array_like=True):
    """What loading the matcher needs (the first message to a worker): the configured library and its use."""

    dirs: list[str]
    variables: dict[str, str]
    include_demo: bool
    top_k: int
    min_confidence: float
    strict: bool = False
    skip: list[str] = []  # the quality rule files among the phrases (`[qa] rules`)
    shops: dict[str, list[str]] = {}  # each shop's own layers (`[phrases.shops]`)

    def load(self, cache: PhraseFileCache | None = None) -> Matcher:
        """Load the phrase library and build its matcher (`cache`: what an earlier load read of files unchanged
        since); raises LibraryError naming every problem."""
        return self.matcher(self.library(cache))

    def library(self, cache: PhraseFileCache | None = None) -> Library:
        """Load the phrase library alone (its phrases checked, its templates compiled); raises LibraryError."""
        dirs = [Path(d) for d in self.dirs]
        return Library.load(
            dirs, self.variables, include_demo=self.include_demo, skip=self.skip, shops=self.shops, cache=cache
        )

    def matcher(self, library: Library) -> Matcher:
        """The library's matcher: its trigger index, key words and scorer built (most of a load's CPU)."""
        return Matcher(library, k=self.top_k, min_confidence=self.min_confidence, strict=self.strict)


class Request(msgspec.Struct, frozen=True, tag="match", array_like=True):
    """A customer message with what the matcher reads of its conversation (taken when it arrived)."""

    id: int
    text: str
    ts_ms: int
    history: list[tuple[int, str]]  # the customer's earlier messages, oldest first
    replies: list[int]  # when the agent answered
    unpaid: bool
    variables: dict[str, str]
    shop: str  # whose own phrases answer it, and whose adoption counts rank the phrases
    item: str = ""  # the title of the conversation's catalog item (a phrase's `goods` may be named there)
    ordered: bool = False  # an order of the conversation is known (its events, not only the customer's words)
    past_orders: int = 0  # the customer's paid orders in the shop's other conversations (a returning buyer)


class Search(msgspec.Struct, frozen=True, tag="search", array_like=True):
    """The agent's "/" search (`Matcher.search`) among the shared phrases and the shop's own, rendered with its
    variables."""

    id: int
    query: str
    limit: int
    shop: str
    variables: dict[str, str]


class Adoption(msgspec.Struct, frozen=True, tag="adoption", array_like=True):
    """A shop's adoption counts as the service loaded them (sent before the shop's first request)."""

    shop: str
    counts: dict[str, int]


class Used(msgspec.Struct, frozen=True, tag="used", array_like=True):
    """An agent used a suggested phrase: its count goes up by one."""

    shop: str
    phrase_id: str


class Swap(msgspec.Struct, frozen=True, tag="swap", array_like=True):
    """The reload was installed: the library a later `Settings` prepared answers every message after this one."""


class Drop(msgspec.Struct, frozen=True, tag="drop", array_like=True):
    """The reload was refused: the library a later `Settings` prepared is let go; the serving one stays."""


class Ready(msgspec.Struct, frozen=True, tag="ready", array_like=True):
    phrases: int


class Prepared(msgspec.Struct, frozen=True, tag="prepared", array_like=True):
    """A reload loaded beside the serving library (a `Settings` after the first): its phrases and `digest`, the
    files it read and the phrases it checked (the others were kept from the last load); or the problems that
    refused it (`error`)."""

    phrases: int = 0
    digest: str = ""
    read: int = 0
    checked: int = 0
    error: str = ""


class Answer(msgspec.Struct, frozen=True, tag="answer", array_like=True):
    id: int
    suggestions: list[Suggestion]
    kind: CustomerType


class Found(msgspec.Struct, frozen=True, tag="found", array_like=True):
    """What a `Search` found, best first."""

    id: int
    suggestions: list[Suggestion]


class Failure(msgspec.Struct, frozen=True, tag="failure", array_like=True):
    """The library did not load (id 0) or one request failed (its id)."""

    id: int
    error: str


ToWorker = Settings | Request | Search | Adoption | Used | Swap | Drop
FromWorker = Ready | Answer | Found | Failure | Prepared

_encoder = msgspec.msgpack.Encoder()


def frame(message: ToWorker | FromWorker) -> bytes:
    """One message as it goes on the pipe: its length, then its msgpack body."""
    body = _encoder.encode(message)
    return len(body).to_bytes(HEADER, "big") + body


def answer(matcher: Matcher, request: Request, adoption: Mapping[str, int]) -> tuple[list[Suggestion], CustomerType]:
    """The matcher's suggestions for the message and the customer type including it."""
    history = [(ts, text) for ts, text in request.history]
    messages = [*history, (request.ts_ms, request.text)]
    kind = matcher.classify(messages, request.replies, ordered=request.ordered, past_orders=request.past_orders)
    context = Context(
        customer_messages=tuple(history),
        has_unpaid_order=request.unpaid,
        customer_type=named_type(kind),  # a default type, chosen for want of evidence, ranks nothing
        variables=request.variables,
        adoption=adoption,
        item=request.item,
        shop=request.shop,
        opening=not history and not request.replies,
        at_ms=request.ts_ms,
        replies=tuple(request.replies),
    )
    return matcher.suggest(request.text, context), kind


def search(matcher: Matcher, asked: Search) -> list[Suggestion]:
    """The phrases the search finds."""
    return matcher.search(asked.query, asked.limit, Context(variables=asked.variables, shop=asked.shop))


def digest(library: Library) -> str:
    """A short digest of the phrases a library serves (ids, texts, triggers, intents, goods, shops): two processes
    or instances serving the same files show the same one."""
    rows = [(p.id, p.intent, p.code, p.text, p.triggers, p.types, p.goods, p.shop) for p in library.phrases]
    return hashlib.sha256(msgspec.msgpack.encode(rows)).hexdigest()[:12]
