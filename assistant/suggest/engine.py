"""The live suggestion engine: the current matcher (reloadable), the ingest annotator, adoption counts."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any

from assistant import store
from assistant.chatwoot import shown_agent, shown_customer
from assistant.config import Config
from assistant.conversations import Conversations, ConversationState
from assistant.events import ORDER_TYPES, Event
from assistant.ingest import Enrichment
from assistant.store import Annotation, Written
from assistant.suggest.adjusting import PhraseCodes, SuggestionAdjuster
from assistant.suggest.item_answers import ItemAnswers, item_variables, suggestion_dicts
from assistant.suggest.matcher import Context, CustomerType, Matcher, Suggestion, customer_type_json
from assistant.suggest.matching import Answer, Found, Prepared, Request, Search, Settings, answer, digest
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.suggest.phrases import Library, LibraryError
from assistant.suggest.served import OwnMatcher, Served
from assistant.suggest.training import scorer_problem
from assistant.suggest.type_reader import TypeReader
from assistant.suggest.worker import LoopBudget, MatchingWorkers, Reply
from assistant.tasks import FaultLog, Throttled

log = logging.getLogger(__name__)
WITHHELD = "matching_busy"  # `suggestions_withheld`: no worker could match it, and the loop had its share
WITHHELD_WARNING = (
    "no matching worker can take customer messages (%s) and the service has matched its share of them"
    " (%.0f %% of its time): answered without suggestions (%d such messages since the last warning)"
)
BUILDING_WARNING = (
    "no matching worker can take customer messages (%s) and the service's own matcher of the reloaded library is"
    " being built: answered without suggestions (%d such messages since the last warning)"
)


def load_matcher(config: Config, cache: PhraseFileCache | None = None) -> Matcher:
    """Load the configured phrase library (`cache`: what the last load read, for a reload); raises LibraryError
    naming every problem."""
    return matcher_settings(config).load(cache)


def matcher_settings(config: Config, *, strict: bool = False) -> Settings:
    """What loading the configured matcher takes, as a worker process receives it (absolute paths)."""
    phrases = config.phrases
    dirs = [str(d.absolute()) for d in config.phrase_dirs()]
    skip = [str(p.absolute()) for p in config.qa_rule_files()]
    shops = {shop: [str(d.absolute()) for d in dirs] for shop, dirs in config.shop_phrase_dirs().items()}
    return Settings(
        dirs, dict(phrases.variables), phrases.include_demo, phrases.top_k, phrases.min_confidence, strict, skip, shops
    )


class SuggestionEngine:
    """Suggestions and customer types for messages, with conversation context and per-shop adoption."""

    def __init__(
        self,
        config: Config,
        matcher: Matcher,
        conversations: Conversations,
        db_path: store.Location,
        *,
        owned: bool = True,
        phrase_cache: PhraseFileCache | None = None,
    ) -> None:
        self.config = config
        # The library served, and the service's own matcher of it: built at once here, and by a reload only when no
        # worker is configured; while workers serve, only when a use needs it and none can take it (served.py).
        strict = matcher.strict
        self.own = OwnMatcher(Served.of(matcher, owned), lambda: matcher_settings(config, strict=strict))
        # The phrase files as the last load read them: a reload reads and checks again only those that changed.
        self.phrase_cache = phrase_cache if phrase_cache is not None else PhraseFileCache()
        self.conversations = conversations
        self.db_path = db_path
        self.items = ItemAnswers(config.catalog, db_path)  # product facts and size charts (assistant/catalog/)
        self._adoption: dict[str, Counter[str]] = {}
        self._adoption_seq: dict[str, int] = {}  # per shop, the latest use its read counted
        self.workers: MatchingWorkers | None = None  # matching in other processes (start_workers)
        self._prepared: list[tuple[int, Prepared | None]] = []  # what each worker answered `prepare_workers`
        # What the loop matches while workers are configured and none can take it (`[phrases] loop_share`).
        self.budget = LoopBudget(config.phrases.loop_share)
        self._withheld = Throttled(log, WITHHELD_WARNING)
        self._building = Throttled(log, BUILDING_WARNING)
        # A read that fails for every message of an outage: its first line, then one a minute with a count.
        self._faults = FaultLog(log, level=logging.WARNING)
        self.adjust: SuggestionAdjuster | None = None  # the plugins' `adjust_suggestions`, when one has it
        self._codes: PhraseCodes | None = None  # the served library's phrases by code, for what a plugin adds
        self._installs = 0  # libraries installed by a reload

    # -- workers ----------------------------------------------------------------------------------
    def start_workers(self, count: int, **options: Any) -> MatchingWorkers:
        """Start `count` matching worker processes in the background (options: see MatchingWorkers)."""
        settings = matcher_settings(self.config, strict=self.own.served.types.strict)
        self.workers = MatchingWorkers(settings, count, adoption=lambda: self._adoption, **options)
        self.workers.start()
        return self.workers

    async def stop_workers(self) -> None:
        """Stop the workers (their stdin closed, awaited); matching goes on here. A build of the service's own
        matcher in flight is no longer waited for."""
        workers, self.workers = self.workers, None
        if workers is not None:
            await workers.close()
        await self.own.close()

    @property
    def library(self) -> Library:
        """The phrase library served (reloads included)."""
        return self.own.served.library

    @property
    def matcher(self) -> Matcher:
        """The service's own matcher of the served library, built now in the calling thread if it is not yet: for
        tools and tests. The service's paths ask `own.get()` (None while it is built) or `await own.built()`."""
        return self.own.build_here()

    def classify(self, state: ConversationState) -> CustomerType:
        """The customer's type in the conversation as its state has it (the library's type reader)."""
        messages, replies = list(state.customer_messages), list(state.agent_replies)
        return self.own.served.types.classify(messages, replies, ordered=state.ordered, past_orders=state.past_orders)

    async def prepare_workers(self) -> None:
        """The matching workers load the library again in their own processes, beside the one they serve, for a
        reload's `install` to swap in at once (`MatchingWorkers.prepare`); `worker_problems` reads what they
        answered."""
        self._prepared = await self.workers.prepare() if self.workers is not None else []

    def worker_problems(self, reloaded: Served) -> list[str]:
        """Why a worker refuses the reload of `reloaded` (its read of the files found a problem, or phrases other
        than the service's: a file changed between the two reads); nothing when they all loaded it, or went
        (a new process loads it)."""
        prepared, self._prepared = self._prepared, []
        replies = [(number, reply) for number, reply in prepared if reply is not None]
        if not replies:
            return []
        library = reloaded.library
        served = digest(library)
        problems = []
        for number, reply in replies:
            if reply.error:
                problems.append(f"matching worker {number}: {reply.error}")
            elif reply.digest != served:
                problems.append(
                    f"matching worker {number} read other phrases than the service ({reply.phrases} phrases, digest"
                    f" {reply.digest}; the service's: {len(library.phrases)}, {served}): a phrase file"
                    " changed during the reload; reload again"
                )
        return problems

    def drop_prepared_workers(self) -> None:
        """The workers let go of what `prepare_workers` loaded (the reload was refused)."""
        self._prepared = []
        if self.workers is not None:
            self.workers.drop_prepared()

    # -- reload ---------------------------------------------------------------------------------
    def prepare(self) -> tuple[Served | None, list[str]]:
        """A freshly loaded library to `install`, or None and its problems (the old one keeps serving). Its matcher
        is built here only when no matching worker is configured: else when a use needs it and none can take it."""
        settings = matcher_settings(self.config, strict=self.own.served.types.strict)
        try:
            library = settings.library(self.phrase_cache)
        except LibraryError as exc:
            problems = [str(p) for p in exc.problems]
            log.error(
                "phrase library not reloaded, %d problem(s); the previous one keeps serving:\n%s",
                len(problems),
                "\n".join(problems),
            )
            return None, problems
        if self.workers is None:  # the service matches everything: its matcher now, as the library's
            matcher = self.own.build(library)
            reloaded = Served.of(matcher)
        else:
            matcher, reloaded = None, Served(library, TypeReader.build(library, settings.strict))
        # A matcher without a scorer has none on disk or one it could not read: only then is the file read again.
        broken = scorer_problem(library) if matcher is None or matcher.scorer is None else None
        if broken is not None:  # the last good scorer keeps serving with the last good library
            log.error("phrase library not reloaded; the previous one keeps serving: %s", broken)
            reloaded.release()
            return None, [broken]
        return reloaded, []

    def install(self, reloaded: Served) -> Served:
        """Serve `reloaded` from now on; the replaced one, for the caller to `release` (a shared matcher is not)."""
        replaced = self.own.install(reloaded)
        self._installs += 1  # its type reader may type a card otherwise (`_retype`)
        log.info("phrase library reloaded: %d phrases", len(reloaded.library.phrases))
        if self.workers is not None:
            self.workers.restart()  # what they prepared serves; else new processes load it, the service matching
        return replaced

    # -- adoption -------------------------------------------------------------------------------
    def adoption(self, shop: str) -> Counter[str]:
        """How often the shop's agents used each phrase: read once, then counted as uses are logged, here or
        (a shared PostgreSQL database) by another instance (`count_use`)."""
        counts = self._adoption.get(shop)
        if counts is None:
            try:
                conn = store.connect(self.db_path, readonly=True)
                try:
                    found, self._adoption_seq[shop] = store.adoption_counts(conn, shop)
                finally:
                    conn.close()
            except sqlite3.OperationalError as exc:  # read again at the next message
                if store.exists(self.db_path):
                    self._faults.log("adoption", "adoption counts of shop %s not read (suggestions rank without them): %s", shop, exc)  # fmt: skip
                return Counter()
            self._faults.cleared("adoption", "adoption counts are read again")
            counts = self._adoption[shop] = Counter(found)
            if self.workers is not None:
                self.workers.adopt(shop, counts)
        return counts

    def count_use(self, shop: str, phrase_id: object, seq: object) -> None:
        """A use of a phrase logged here or by another instance: counted unless the shop's read held it."""
        counts = self._adoption.get(shop)
        if counts is None or not isinstance(phrase_id, str) or not phrase_id:
            return  # not read yet: the read will count it
        if isinstance(seq, int) and seq <= self._adoption_seq.get(shop, 0):
            return
        counts[phrase_id] += 1
        if self.workers is not None:
            self.workers.used(shop, phrase_id)

    # -- computing --------------------------------------------------------------------------------
    def context_for(
        self, state: ConversationState | None, shop: str, customer: str = "", agent: str | None = None
    ) -> Context:
        """What a phrase is filled with: names as the buyer reads them (no ids); `agent`: the message's own."""
        return Context(
            customer_messages=state.customer_messages if state else (),
            has_unpaid_order=bool(state and state.unpaid_orders),
            customer_type=state.customer_type if state else None,
            variables=self._variables(state, shop, customer, agent),
            adoption=self.adoption(shop),
            shop=shop,
        )

    def _variables(
        self, state: ConversationState | None, shop: str, customer: str, agent: str | None
    ) -> dict[str, str]:
        """A phrase's variables (`context_for`'s), made anew for each message."""
        variables = {"shop": self.config.shop_name(shop), "customer": shown_customer(shop, customer) or "亲"}
        agent = agent or (state.agent if state is not None else None)
        if agent:
            variables["agent"] = shown_agent(shop, agent)
        if state is not None and state.unpaid_orders:
            order, amount = next(reversed(state.unpaid_orders.items()))
            variables.update(order=order, amount=f"{amount:.2f}")
        return variables

    def compute(
        self,
        text: str,
        *,
        shop: str,
        state: ConversationState | None,
        ts_ms: int = 0,
        customer: str = "",
        item: str | None = None,
        agent: str | None = None,
    ) -> tuple[list[Suggestion], CustomerType]:
        """Suggestions for `text` and the customer type including it; `item` is the product it is about."""
        item = self.items.item_of(state, text, item)
        request, adoption = self._request(text, shop, state, ts_ms, customer, item, agent)
        return self._amended(request, *answer(self.matcher, request, adoption), item)  # built here if need be

    async def compute_served(
        self,
        text: str,
        *,
        shop: str,
        state: ConversationState | None,
        conversation: str = "",
        item: str | None = None,
    ) -> tuple[list[Suggestion], CustomerType]:
        """`compute`, by a matching worker when one can take it (`GET /v1/suggest`): matched on the event loop, it
        held every event behind it (a millisecond for a short text, more for a long one). Matched here, as before,
        when none can, or the one asked did not answer."""
        item = self.items.item_of(state, text, item)
        request, _ = self._request(text, shop, state, 0, "", item)  # the shop's adoption counts read (and sent) first
        future = self.workers.submit(request, f"{shop}\x1f{conversation}") if self.workers is not None else None
        reply = await future if future is not None else None
        if not isinstance(reply, Answer):
            matcher = await self.own.built()
            return self._amended(request, *answer(matcher, request, self.adoption(shop)), item)
        return self._amended(request, reply.suggestions, reply.kind, item)

    async def search_served(self, query: str, limit: int, shop: str) -> list[Suggestion]:
        """The agent's "/" search among the shared phrases and the shop's own, by a matching worker when one can take
        it: in the service, the first search after a reload built the search's index of every phrase on the event
        loop (0.6 s of CPU at 20,000 phrases). Searched here, as before, when none can, or the one asked did not
        answer."""
        context = self.context_for(None, shop)
        asked = Search(0, query, limit, shop, dict(context.variables))
        future = self.workers.submit(asked) if self.workers is not None else None
        reply = await future if future is not None else None
        if isinstance(reply, Found):
            return reply.suggestions
        return (await self.own.built()).search(query, limit=limit, context=context)

    def _request(
        self,
        text: str,
        shop: str,
        state: ConversationState | None,
        ts_ms: int,
        customer: str,
        item: str | None,
        agent: str | None = None,
    ) -> tuple[Request, Counter[str]]:
        """What matching the message reads of its conversation, as it is now; and the shop's adoption counts."""
        # Read straight from the state (no Context: its adoption counts and copies are not needed here).
        variables, title = self._variables(state, shop, customer, agent), self.items.title_of(item)
        if state is None:
            request = Request(0, text, ts_ms, [], [], False, variables, shop, title, False)
        else:
            history, replies, unpaid = (
                list(state.customer_messages),
                list(state.agent_replies),
                bool(state.unpaid_orders),
            )
            past = self.conversations.read_past(state, customer)  # a returning buyer (the log's earlier orders)
            request = Request(0, text, ts_ms, history, replies, unpaid, variables, shop, title, state.ordered, past)
        return request, self.adoption(shop)

    def _amended(
        self, request: Request, suggestions: list[Suggestion], kind: CustomerType, item: str | None
    ) -> tuple[list[Suggestion], CustomerType]:
        if item is None:  # nothing of an item to add: the answer as it came
            return suggestions, kind
        earlier = [t for _, t in request.history]
        return self.with_item(suggestions, request.text, earlier, item, request.variables, request.shop), kind

    def with_item(
        self,
        suggestions: list[Suggestion],
        text: str,
        earlier: list[str],
        item: str | None,
        variables: Mapping[str, str],
        shop: str = "",
    ) -> list[Suggestion]:
        """The catalog's answers about the item lead the suggestions; phrases that use the item are filled in."""
        return self.items.amend(
            suggestions, text, item_id=item, earlier=earlier, variables=variables, library=self.library,
            k=self.config.phrases.top_k, shop=shop,
        )  # fmt: skip

    def adjusted(
        self,
        suggestions: list[Suggestion],
        kind: CustomerType,
        state: ConversationState | None,
        shop: str,
        conversation: str,
        customer: str,
        text: str,
        agent: str | None = None,
        item: str | None = None,
    ) -> list[Suggestion]:
        """The suggestions as the plugins' `adjust_suggestions` leave them (suggest/adjusting.py); as they are when
        no plugin has it. A phrase added by its code is one the shop's conversations may get, rendered for this one
        as the matcher's own are: with the message's item (`item`, else the one it names or its conversation's)."""
        if self.adjust is None:
            return suggestions

        def find(code: str) -> Suggestion | None:
            library = self.library
            if self._codes is None or self._codes.library is not library:  # a reload serves another one
                self._codes = PhraseCodes(library)
            phrase = self._codes.get(shop, code)
            if phrase is None:
                return None
            variables = self.context_for(state, shop, customer, agent).variables
            values = self._item_values(state, text, item) if library.uses_item(phrase.id, shop) else None
            rendered = library.render(phrase.id, variables, item=values, shop=shop)
            return Suggestion(phrase.id, phrase.intent, phrase.code, rendered, 100.0, phrase.code)

        detail = customer_type_json(kind)
        return self.adjust(
            suggestions, shop=shop, conversation=conversation, customer=customer, text=text, customer_type=detail,
            find=find,
        )  # fmt: skip

    def _item_values(self, state: ConversationState | None, text: str, item: str | None) -> dict[str, Any] | None:
        """`{{ item }}` for the message's item (`item`, else the one it names or its conversation's); None when it
        has none in the catalog (the phrase then reads 这款宝贝, as the matcher's own do)."""
        item_id = self.items.item_of(state, text, item)
        found = self.items.catalog.item(item_id) if item_id else None
        return item_variables(found) if found is not None else None

    @staticmethod
    def response(suggestions: list[Suggestion], kind: CustomerType) -> dict[str, Any]:
        return {"suggestions": suggestion_dicts(suggestions), "customer_type": customer_type_json(kind)}

    # -- ingest integration -------------------------------------------------------------------------
    def annotate(self, event: Event) -> Enrichment | None:
        """Annotator: suggestions and customer type for a customer message, logged with it (matched here)."""
        if not event.is_customer_message:
            return None
        state = self.conversations.get(event.shop, event.conversation, current=True)
        item = self.items.item_of(state, event.text or "", event.item)
        suggestions, kind = self.compute(
            event.text or "",
            shop=event.shop,
            state=state,
            ts_ms=event.ts_ms,
            customer=event.customer,
            item=item,
            agent=event.agent,  # the conversation's agent as of this message (its state is read before it)
        )
        return self._enrichment(suggestions, kind, item, event, state)

    def annotate_pipelined(self, event: Event) -> Enrichment | None | Awaitable[Enrichment | None]:
        """Annotator that hands the matching to a worker process when one can take it: the message is sent
        now (a batch's messages all go before the first answer is awaited) and the enrichment comes later.
        When none can, it is matched here within the loop's share (`LoopBudget`), else answered without."""
        if not event.is_customer_message:
            return None
        if self.workers is None and self.own.served.matcher is not None:
            return self.annotate(event)
        text = event.text or ""
        state = self.conversations.get(event.shop, event.conversation, current=True)
        item = self.items.item_of(state, text, event.item)
        request, adoption = self._request(text, event.shop, state, event.ts_ms, event.customer, item, event.agent)
        # None: the workers stopped (the service stopping) after a reload left it the library alone
        workers = self.workers
        future = workers.submit(request, f"{event.shop}\x1f{event.conversation}") if workers is not None else None
        if future is None:
            return self._matched_here(request, adoption, item, state, event)
        return self._from_worker(future, request, item, state, event)

    async def _from_worker(
        self,
        future: asyncio.Future[Reply | None],
        request: Request,
        item: str | None,
        state: ConversationState,
        event: Event,
    ) -> Enrichment | None:
        reply = await future
        if not isinstance(reply, Answer):  # the worker is gone, stuck or failed on it: match the message here
            return self._matched_here(request, self.adoption(request.shop), item, state, event)
        return self._enrichment(*self._amended(request, reply.suggestions, reply.kind, item), item, event, state)

    def _matched_here(
        self, request: Request, adoption: Counter[str], item: str | None, state: ConversationState, event: Event
    ) -> Enrichment:
        """Matched on the event loop, if it has not had its share of time for it: else without suggestions."""
        budget = self.budget
        states = ", ".join(self.workers.states) if self.workers is not None else "stopped"
        matcher = self.own.get()
        if matcher is None:  # built now, in a thread: the messages meanwhile are answered without, as past the share
            self._building.warn(int(budget.clock() * 1000), states)
            return self._without(item, state)
        if not budget.allows():
            self._withheld.warn(int(budget.clock() * 1000), states, budget.share * 100)
            return self._without(item, state)
        started = budget.clock()
        try:
            found = answer(matcher, request, adoption)
        finally:
            budget.spend(budget.clock() - started)
        return self._enrichment(*self._amended(request, *found, item), item, event, state)

    def _without(self, item: str | None, state: ConversationState) -> Enrichment:
        """A message answered without suggestions (`suggestions_withheld`); its card keeps the customer's type."""
        detail = state.customer_type_detail or customer_type_json(self.own.served.types.default())
        response: dict[str, Any] = {"suggestions": [], "suggestions_withheld": WITHHELD}
        if item is not None:
            response["item"] = self.items.card(item, [])
        return Enrichment(Annotation(customer_type_detail=detail, withheld=WITHHELD), response)

    def _enrichment(
        self,
        suggestions: list[Suggestion],
        kind: CustomerType,
        item: str | None,
        event: Event | None = None,
        state: ConversationState | None = None,
    ) -> Enrichment:
        intent = suggestions[0].intent if suggestions else None  # the message's, whatever a plugin shows
        if self.adjust is not None and event is not None:  # before the answer, the log and the panel are made
            text, agent = event.text or "", event.agent
            args = (event.shop, event.conversation, event.customer, text, agent, item)
            suggestions = self.adjusted(suggestions, kind, state, *args)
        # Built once: the answer's body, the log's annotation and the panel's card share these (encoded only as sent).
        shown, detail = suggestion_dicts(suggestions), customer_type_json(kind)
        response: dict[str, Any] = {"suggestions": shown, "customer_type": detail}
        if item is not None:
            response["item"] = self.items.card(item, shown)
        annotation = Annotation(
            intent=intent, customer_type=kind.type, suggestions=tuple(shown), customer_type_detail=detail
        )
        return Enrichment(annotation, response)

    def on_written(self, written: Written) -> None:
        """Listener: keep conversation state and adoption counts current."""
        event = written.event
        state = self.conversations.apply(written)
        self.items.observe(event, state)
        if event.type == "suggestion_used" and event.phrase_id:
            self.adoption(event.shop)  # read now if not yet: counted below unless the read held it
            self.count_use(event.shop, event.phrase_id, written.seq)
        if event.is_customer_message and written.annotation is not None:
            annotation = written.annotation
            state.show(annotation.suggestions, annotation.customer_type_detail, annotation.withheld)
        elif event.type in ORDER_TYPES and event.order:
            self._retype(state)

    def _retype(self, state: ConversationState) -> None:
        """An order of the conversation logged: its card's customer type, and the talk track it shows, as the order
        makes it (no stranger, the track after an order), where it kept its last message's until the next one. A
        card rebuilt from the log (a restart, another instance) is typed so already (`ordered` from its orders).

        The type reads the buyer's messages, the agent's reply times, whether the conversation has an order and the
        buyer's paid orders elsewhere: an order event that changes none of these since the last one typed this
        card (its payment, its closing, another order) types it as it did then, and is not worked out again."""
        # Identity compares these at once: the tuples and the card are replaced, never changed in place.
        read = (state.customer_messages, state.agent_replies, state.ordered, state.past_orders, self._installs)
        if state.typed_from is not None and state.typed_from[0] is state.shown and state.typed_from[1:] == read:
            return
        suggestions, detail, withheld = state.card_parts()
        if detail is None or not state.customer_messages:
            return  # nothing typed yet: a card types it when built (web/stream.py, ensure_suggestions)
        fresh = customer_type_json(self.classify(state))
        if fresh != detail:
            state.show(suggestions, fresh, withheld)
        state.typed_from = (state.shown, *read)
