"""The library the service serves, and the service's own matcher of it: built at once where the service matches
(no matching worker configured), else only when a use needs it and no worker can take it.

While workers serve, the service reads the library itself (the phrases, their texts and codes, the digests a
worker's reload is checked against, the pages' labels) and a customer's type (`TypeReader`), never the trigger index
or the scorer: a reload of 20,000 phrases built them beside the event loop, about nine tenths of the service's 3.3-4.5 s
of CPU, for uses a worker answers. The matcher is built lazily, once per library, in a thread (the one that reloads,
paced as a reload's build is: suggest/pacing.py), when a message, a card or a search finds no worker to take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Settings
from assistant.suggest.phrases import Library
from assistant.suggest.type_reader import TypeReader

log = logging.getLogger(__name__)

# One library built at a time in the process, whatever asks (a reload, a lazy build, instances sharing a process as
# tests run them): two at once doubled the memory, and CPython 3.11's parser, which numpy's scorer header goes
# through, is not safe in two threads at once (SystemError: AST constructor recursion depth mismatch).
BUILDING = threading.Lock()


class Served:
    """A library as the service holds it: the library, the customer-type reader, and the matcher once built."""

    def __init__(self, library: Library, types: TypeReader, matcher: Matcher | None = None, owned: bool = True) -> None:
        self.library = library
        self.types = types
        self.matcher = matcher
        self.owned = owned  # a matcher shared with others (tests') is never released here

    @classmethod
    def of(cls, matcher: Matcher, owned: bool = True) -> Served:
        """A matcher built already: the library, its reader and itself."""
        return cls(matcher.library, TypeReader.of(matcher), matcher, owned)

    def release(self) -> None:
        """Let go of a replaced library (not used again): the matcher's indexes when built, the reader, the library."""
        if not self.owned:
            return
        self.types.release()
        if self.matcher is not None:
            self.matcher.release()  # the library's too
        else:
            self.library.release()


class OwnMatcher:
    """The service's own matcher of the served library, built when first asked for (`get` starts it, `built` waits
    for it), in a thread, once per library; `builds` counts them (tests, benchmarks)."""

    def __init__(
        self,
        served: Served,
        settings: Callable[[], Settings],
        *,
        lock: asyncio.Lock | None = None,
        hold: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        after: Callable[[], object] = lambda: None,
    ) -> None:
        self.served = served
        self._settings = settings
        # Set by the app: the reload's lock (a build waits for a reload, then builds the library it installed), the
        # collector held off while it builds, and the heap frozen again after, as a reload's build is.
        self.lock = lock or asyncio.Lock()
        self.hold = hold
        self.after = after
        self.builds = 0
        self._task: asyncio.Task[None] | None = None

    def get(self) -> Matcher | None:
        """The matcher of the served library; None while it is built (the build started here if not yet)."""
        matcher = self.served.matcher
        if matcher is None:
            self.start()
        return matcher

    async def built(self) -> Matcher:
        """The matcher of the served library, built first if need be (the event loop serving meanwhile)."""
        while (matcher := self.served.matcher) is None:
            self.start()
            assert self._task is not None
            await asyncio.shield(self._task)
        return matcher

    def start(self) -> None:
        """Build the served library's matcher in the background, unless it is built or being built."""
        if self.served.matcher is not None or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._build(), name="the service's own matcher")
        self._task.add_done_callback(_logged)

    async def _build(self) -> None:
        async with self.lock:
            served = self.served
            if served.matcher is not None:
                return
            started = time.perf_counter()
            with self.hold():
                matcher = await asyncio.to_thread(self._build_alone, served.library)
            if self.served is not served:  # replaced meanwhile by a reload: never served
                await asyncio.to_thread(matcher.release)
                return
            served.matcher = matcher
            self.after()
            log.info(
                "the service built its own matcher of the phrase library (%d phrases) in %.1f s: no matching worker"
                " could take what needed it",
                len(served.library.phrases),
                time.perf_counter() - started,
            )

    def _build_alone(self, library: Library) -> Matcher:
        with BUILDING:
            return self.build(library)

    def build(self, library: Library) -> Matcher:
        """`library`'s matcher, built in the calling thread, which holds `BUILDING` (a reload's)."""
        self.builds += 1
        return self._settings().matcher(library)

    def build_here(self) -> Matcher:
        """The matcher now, built in the calling thread if need be (tools and tests; the service's own paths never
        call it: `get` or `built`)."""
        if self.served.matcher is None:
            self.served.matcher = self._build_alone(self.served.library)
        return self.served.matcher

    def install(self, served: Served) -> Served:
        """Serve `served` from now on; the replaced one, for the caller to release (a build of it is dropped)."""
        replaced, self.served = self.served, served
        return replaced

    async def close(self) -> None:
        """Stop waiting for a build in flight (its thread finishes on its own; what it built is let go)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _logged(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the service's own matcher could not be built", exc_info=task.exception())
