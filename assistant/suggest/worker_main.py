"""The matching worker process: loads the phrase library, then answers requests from stdin on stdout, in order.

A reload is prepared in place: the settings sent again, the process loads the library in a thread with what its
last load read (`PhraseFileCache`: only the files whose content changed are read and checked again), answering
with the serving library meanwhile; `Swap` puts it in service for every message after it, `Drop` lets it go.
The library replaced or dropped is released in a thread too (`release_aside`), never in the serving one.

Run by the service (suggest/worker.py) as `python -m assistant.suggest.worker_main`; it exits when its stdin
closes, so a service that dies leaves no worker behind.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from collections import Counter
from typing import BinaryIO

import msgspec

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import (
    HEADER,
    Adoption,
    Answer,
    Drop,
    Failure,
    Found,
    FromWorker,
    Prepared,
    Ready,
    Request,
    Search,
    Settings,
    Swap,
    ToWorker,
    Used,
    digest,
    frame,
)
from assistant.suggest.matching import answer as answer_request
from assistant.suggest.matching import search as search_phrases
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.suggest.phrases import LibraryError

log = logging.getLogger("assistant.suggest.worker")


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next message's body; None at the end of the stream."""
    header = stream.read(HEADER)
    if len(header) < HEADER:
        return None
    size = int.from_bytes(header, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After a collection of the middle or the oldest generation, freeze what survived it, so that no full
    collection walks it again.

    The matcher's caches (analyses and type signals of up to 50,000 texts) fill as messages arrive; a full
    collection that walked them all paused the worker ~100 ms, and every message queued behind it waited.
    Freezing only after full collections still left 20-30 ms pauses under load (what had come since the
    last one), the slowest customer messages of a run; after middle ones, the worker's longest pause is a
    few ms. Matching makes no reference cycles (none found after 6,000 distinct messages with histories),
    and cache entries hold none: when one is evicted, reference counting frees it, frozen or not.
    """
    if phase == "stop" and info["generation"] >= 1:
        gc.freeze()


def release_aside(matcher: Matcher) -> threading.Thread:
    """Release a library no longer served in a thread of its own, the serving thread answering meanwhile.

    Released in the serving thread, a replaced 20,000-phrase library held every message sent after the swap
    0.3-0.45 s of CPU (its indexes emptied a piece at a time, but by the thread that answers): the slowest
    events of a reload. In a thread, its pieces (`pacing`) hand the GIL over to the serving thread.
    """
    thread = threading.Thread(target=matcher.release, name="release", daemon=True)
    thread.start()
    return thread


class _Writer:
    """Frames to stdout, whole, from the serving thread and the reloading one."""

    def __init__(self, stdout: BinaryIO) -> None:
        self.stdout = stdout
        self.lock = threading.Lock()

    def __call__(self, message: FromWorker) -> None:
        data = frame(message)
        with self.lock:
            self.stdout.write(data)
            self.stdout.flush()


class _Reload:
    """A reload loading in a thread beside the serving library, until `take` (Swap) or `drop` (Drop)."""

    def __init__(self, cache: PhraseFileCache, write: _Writer) -> None:
        self.cache = cache
        self.write = write
        self.thread: threading.Thread | None = None
        self.loaded: Matcher | None = None

    def start(self, settings: Settings) -> None:
        self.drop()  # one load at a time, with the cache: a second reload asked replaces the first
        self.thread = threading.Thread(target=self._load, args=(settings,), name="reload", daemon=True)
        self.thread.start()

    def _load(self, settings: Settings) -> None:
        try:
            matcher = settings.load(self.cache)
        except LibraryError as exc:
            self.write(Prepared(error="; ".join(str(p) for p in exc.problems)))
            return
        except Exception as exc:  # the service refuses the reload with this reason; the serving library stays
            log.exception("the reloaded phrase library could not be loaded")
            self.write(Prepared(error=f"{type(exc).__name__}: {exc}"))
            return
        self.loaded = matcher
        cache = self.cache
        self.write(Prepared(len(matcher.library.phrases), digest(matcher.library), cache.read, cache.parsed))

    def take(self) -> Matcher | None:
        """The loaded library (None: it was refused), once the load is over."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        loaded, self.loaded = self.loaded, None
        return loaded

    def drop(self) -> None:
        loaded = self.take()
        if loaded is not None:
            release_aside(loaded)


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer until stdin ends; the exit status (1 when the library does not load)."""
    decoder = msgspec.msgpack.Decoder(ToWorker)
    first = read_frame(stdin)
    if first is None:
        return 0
    settings = decoder.decode(first)
    if not isinstance(settings, Settings):
        raise ValueError(f"the first message must carry the settings, got {type(settings).__name__}")
    write = _Writer(stdout)
    cache = PhraseFileCache()  # what the load read, for the reloads to read and check only the files that changed
    try:
        matcher = settings.load(cache)
    except LibraryError as exc:
        write(Failure(0, "; ".join(str(p) for p in exc.problems)))
        return 1
    gc.freeze()  # the library lives as long as the process: the collector need not walk it again
    gc.callbacks.append(_freeze_survivors)
    write(Ready(len(matcher.library.phrases)))
    adoption: dict[str, Counter[str]] = {}
    reload = _Reload(cache, write)
    while (body := read_frame(stdin)) is not None:
        message = decoder.decode(body)
        if isinstance(message, Request):
            try:
                suggestions, kind = answer_request(matcher, message, adoption.setdefault(message.shop, Counter()))
                reply: Answer | Failure = Answer(message.id, suggestions, kind)
            except Exception as exc:  # the service matches this message itself; the worker keeps serving
                log.exception("matching failed in the worker")
                reply = Failure(message.id, f"{type(exc).__name__}: {exc}")
            write(reply)
        elif isinstance(message, Search):
            try:
                found: Found | Failure = Found(message.id, search_phrases(matcher, message))
            except Exception as exc:  # the service searches itself; the worker keeps serving
                log.exception("the phrase search failed in the worker")
                found = Failure(message.id, f"{type(exc).__name__}: {exc}")
            write(found)
        elif isinstance(message, Adoption):
            adoption[message.shop] = Counter(message.counts)
        elif isinstance(message, Used):
            adoption.setdefault(message.shop, Counter())[message.phrase_id] += 1
        elif isinstance(message, Settings):
            reload.start(message)
        elif isinstance(message, Swap):
            loaded = reload.take()
            if loaded is not None:
                replaced, matcher = matcher, loaded
                gc.freeze()  # the new library; the replaced one was frozen and is freed by reference counting
                release_aside(replaced)  # its cycles broken in a thread, the next messages answered meanwhile
                del replaced, loaded
        elif isinstance(message, Drop):
            reload.drop()
    reload.drop()
    return 0


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the service shuts down, and closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only: a stray print must not break one
    code = serve(sys.stdin.buffer, out)
    # Without the interpreter's teardown: freeing a heap of cached readings object by object (870 MB after a busy
    # half hour) outlasted the service's wait for its workers, which then killed this one, seconds into a stop.
    out.flush()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
