"""The matching worker process: loads the phrase library, then answers requests from stdin on stdout, in order.

Run by the service (suggest/worker.py) as `python -m assistant.suggest.worker_main`; it exits when its stdin
closes, so a service that dies leaves no worker behind.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections import Counter
from typing import BinaryIO

import msgspec

from assistant.suggest.matching import (
    HEADER,
    Adoption,
    Answer,
    Failure,
    Ready,
    Request,
    Settings,
    ToWorker,
    Used,
    frame,
)
from assistant.suggest.matching import answer as answer_request
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


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer until stdin ends; the exit status (1 when the library does not load)."""
    decoder = msgspec.msgpack.Decoder(ToWorker)
    first = read_frame(stdin)
    if first is None:
        return 0
    settings = decoder.decode(first)
    if not isinstance(settings, Settings):
        raise ValueError(f"the first message must carry the settings, got {type(settings).__name__}")
    try:
        matcher = settings.load()
    except LibraryError as exc:
        stdout.write(frame(Failure(0, "; ".join(str(p) for p in exc.problems))))
        stdout.flush()
        return 1
    gc.freeze()  # the library lives as long as the process: the collector need not walk it again
    gc.callbacks.append(_freeze_survivors)
    stdout.write(frame(Ready(len(matcher.library.phrases))))
    stdout.flush()
    adoption: dict[str, Counter[str]] = {}
    while (body := read_frame(stdin)) is not None:
        message = decoder.decode(body)
        if isinstance(message, Request):
            try:
                suggestions, kind = answer_request(matcher, message, adoption.setdefault(message.shop, Counter()))
                reply: Answer | Failure = Answer(message.id, suggestions, kind)
            except Exception as exc:  # the service matches this message itself; the worker keeps serving
                log.exception("matching failed in the worker")
                reply = Failure(message.id, f"{type(exc).__name__}: {exc}")
            stdout.write(frame(reply))
            stdout.flush()
        elif isinstance(message, Adoption):
            adoption[message.shop] = Counter(message.counts)
        elif isinstance(message, Used):
            adoption.setdefault(message.shop, Counter())[message.phrase_id] += 1
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
