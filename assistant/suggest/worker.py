"""Matching workers: child processes that match customer messages on the machine's other cores.

Matching is pure Python (the GIL binds it to one core with the event loop and the writer); a worker process
answers `classify` + `suggest` for the service. A worker is only ever a help: until it is ready, and whenever
it is dead, stuck or answers an error, the service matches the message itself (`submit` says None, or the
answer comes back None), within its share of the event loop's time (`LoopBudget`). A dead worker is restarted
with backoff, a stuck one killed and restarted.

A reload is prepared in each worker's own process, beside the library it serves (worker_main.py): it reads and
checks again only the files whose content changed, as the service does, and is swapped in when the service
installs the reload, or dropped when the service refuses it. A worker that refuses it (its read of the files
found a problem, or other phrases than the service's) refuses the reload everywhere.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec

from assistant.clock import Clock, SystemClock, process_run_queue_wait
from assistant.suggest.child import Child, start_child
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
    frame,
)
from assistant.suggest.matching import Used as UsedMessage
from assistant.tasks import TaskSet

log = logging.getLogger(__name__)

CHILD = "assistant.suggest.worker_main"
TIMEOUT_S = 2.0  # no answer for this long: the message is matched in the service; no answer at all: stuck
# Not ready after this long of its own time (the wall time since it started less the time it waited for a processor):
# its library load hangs (a 20,000-phrase library loads in about 11 s; at a load average of 20, over 60 s of wall time).
LOAD_TIMEOUT_S = 60.0
BACKOFF_S = (0.5, 30.0)  # the first restart's delay, doubling after each failure up to the second
STEADY_S = 60.0  # a worker that served this long before it died starts the backoff again from the first delay
MAX_PENDING = 1024  # a worker this far behind is not given more (the service matches meanwhile)
# A conversation's messages go to one worker, whose caches hold what it read of the conversation's earlier texts
# (each new message weighs them again); unless that worker has this many more requests waiting than the least busy.
SPILL = 8


Reply = Answer | Found  # to a Request, to a Search


@dataclass
class _Pending:
    future: asyncio.Future[Reply | None]
    sent_ms: int


class LoopBudget:
    """How much of the event loop's time matching may take while no worker can (none ready yet, one restarting
    after a crash, all far behind): `share` of it, over a second (`[phrases] loop_share`); past it, a message is
    answered without suggestions.

    Before, the loop matched every message until a new process had loaded the library (0.5 s of backoff, then
    1-2 s for the shipped library, about 11 s at 20,000 phrases), every other request waiting behind it; a
    crash with requests in flight matched them all at once.
    """

    def __init__(self, share: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.share = share
        self.clock = clock
        self._left = share  # seconds of matching the loop may still spend now
        self._at = clock()

    def allows(self) -> bool:
        """Whether the loop may match one more message now."""
        now = self.clock()
        self._left = min(self.share, self._left + (now - self._at) * self.share)
        self._at = now
        return self._left > 0

    def spend(self, seconds: float) -> None:
        """The loop spent `seconds` matching."""
        self._left -= seconds


class _Worker:
    """One child process slot: spawned, restarted, watched."""

    def __init__(self, pool: MatchingWorkers, number: int) -> None:
        self.pool = pool
        self.number = number
        self.proc: Child | None = None
        self.ready = False
        self.pending: dict[int, _Pending] = {}
        self.last_answer_ms = 0
        self.failures = 0
        self.restarting = False  # a reload asked for a new process: no backoff, no failure
        self.killed: str | None = None  # why the watchdog killed the process
        self.ready_since: int | None = None
        self.state = "starting"  # or "waiting" (to be restarted) or "stopped"; `ready` once it answers
        self._work = asyncio.Event()
        # A reload being prepared in the process (`prepare_reload`), and what the process answered.
        self._preparing: asyncio.Future[Prepared | None] | None = None
        self.prepared: Prepared | None = None  # loaded and not swapped in yet (`restart` swaps it in)

    # -- sending --------------------------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing() or proc.returncode is not None:
            return False
        proc.stdin.write(data)
        return True

    def submit(self, request: Request | Search) -> asyncio.Future[Reply | None] | None:
        if not self.send(frame(request)):
            return None
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self.pending[request.id] = _Pending(future, self.pool.clock.now_ms())
        self._work.set()
        return future

    # -- the process ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep a worker process serving until the pool closes."""
        try:
            while not self.pool.closing:
                await self._serve_and_wait()
        finally:
            self.state = "stopped"
            self.ready = False

    async def _serve_and_wait(self) -> None:
        """One process's life; then, unless it was replaced on purpose, the backoff before the next."""
        clock = self.pool.clock
        started = clock.now_ms()
        try:
            returncode, why = await self._serve()
        except OSError as exc:  # could not even start (e.g. out of processes): try again later
            returncode, why = None, f"could not start ({exc})"
        if self.pool.closing:
            return
        if self.restarting:
            self.restarting = False
            return
        if self.ready_since is not None and clock.now_ms() - self.ready_since >= STEADY_S * 1000:
            self.failures = 0
        self.failures += 1
        delay = min(BACKOFF_S[1], BACKOFF_S[0] * 2 ** (self.failures - 1))
        log.warning(
            "matching worker %d %s (exit status %s, after %.1f s); the service matches messages itself "
            "(within its share of its time) until it is back; restart in %.1f s",
            self.number,
            why,
            returncode,
            (clock.now_ms() - started) / 1000,
            delay,
        )
        self.state = "waiting"
        await clock.sleep_until(clock.now_ms() + round(delay * 1000))

    async def _serve(self) -> tuple[int | None, str]:
        """One process from spawn to exit: (its exit status, what ended it)."""
        self.ready = False
        self.ready_since = None
        self.killed = None
        self.state = "starting"
        self.prepared = None
        proc = await start_child([sys.executable, "-m", CHILD])  # off the event loop: docs in child.py
        self.proc = proc
        why = "exited"
        loop = asyncio.get_running_loop()
        watchdog = loop.create_task(self._watch(proc), name=f"matching worker {self.number}")
        loading = loop.create_task(self._loading(proc), name=f"matching worker {self.number} loading")
        try:
            self.send(frame(self.pool.settings))
            for shop, counts in self.pool.adoption().items():  # later changes follow on the same stream
                self.send(frame(Adoption(shop, dict(counts))))
            why = await self._read(proc)
        finally:
            self.ready = False
            self.prepared = None
            if self._preparing is not None and not self._preparing.done():
                self._preparing.set_result(None)  # gone during the reload
            watchdog.cancel()
            loading.cancel()
            self._fail_pending()
            if proc.returncode is None:
                await _stop(proc)
            await asyncio.gather(watchdog, loading, return_exceptions=True)
        return proc.returncode, self.killed or why

    async def _loading(self, proc: Child) -> None:
        """A process not ready after `load_timeout_s` of its own time is killed (its library load hangs): a
        20,000-phrase library loading at a load average of 20 was killed at 60 s of wall time, and again."""
        over = await self._own_time(proc, lambda: self.ready_since is not None or proc.returncode is not None)
        if over is not None:
            self.killed = f"was not ready after {self._said(over, 'it started')} and was killed"
            proc.kill()

    async def _own_time(self, proc: Child, done: Callable[[], bool]) -> tuple[int, int] | None:
        """Until `done()` (None) or the process has had `load_timeout_s` of its own time: the wall time since less
        the time it waited for a processor, which a busy machine gives, not a hang; then (ms since, ms of them
        waiting)."""
        clock, limit_ms, waiting = self.pool.clock, round(self.pool.load_timeout_s * 1000), self.pool.waiting
        started, waited = clock.now_ms(), waiting(proc.pid)
        elapsed = preempted = 0
        while elapsed - preempted < limit_ms:
            await clock.sleep_until(clock.now_ms() + limit_ms - (elapsed - preempted))
            if done():
                return None
            elapsed, preempted = clock.now_ms() - started, round((waiting(proc.pid) - waited) * 1000)
        return elapsed, preempted

    def _said(self, over: tuple[int, int], since: str) -> str:
        elapsed, preempted = over
        return (
            f"{self.pool.load_timeout_s:g} s of its own time ({elapsed / 1000:.0f} s after {since},"
            f" {preempted / 1000:.0f} s of them waiting for a processor)"
        )

    async def _read(self, proc: Child) -> str:
        assert proc.stdout is not None
        decoder = msgspec.msgpack.Decoder(FromWorker)
        clock = self.pool.clock
        while True:
            try:
                header = await proc.stdout.readexactly(HEADER)
                message = decoder.decode(await proc.stdout.readexactly(int.from_bytes(header, "big")))
            except asyncio.IncompleteReadError:
                return "exited"
            except msgspec.DecodeError as exc:
                proc.kill()
                return f"sent a malformed answer ({exc})"
            if isinstance(message, Ready):
                self._ready(proc, message.phrases)
                continue
            if isinstance(message, Prepared):
                if self._preparing is not None and not self._preparing.done():
                    self._preparing.set_result(message)
                continue
            if isinstance(message, Failure) and message.id == 0:
                log.error("matching worker %d could not load the phrase library: %s", self.number, message.error)
                continue
            pending = self.pending.pop(message.id, None)
            self.last_answer_ms = clock.now_ms()
            if pending is not None and not pending.future.done():
                if isinstance(message, Answer | Found):
                    pending.future.set_result(message)
                    self.pool.answered += 1
                else:  # it failed on this one: the service matches it
                    pending.future.set_result(None)

    def _ready(self, proc: Child, phrases: int) -> None:
        self.ready = proc.stdin is not None and not proc.stdin.is_closing()  # not if already replaced
        self.ready_since = self.last_answer_ms = self.pool.clock.now_ms()
        log.info("matching worker %d ready (pid %d, %d phrases)", self.number, proc.pid, phrases)

    async def _watch(self, proc: Child) -> None:
        """Requests without an answer in time are matched in the service; a worker that answers none is killed."""
        clock = self.pool.clock
        timeout_ms = round(self.pool.timeout_s * 1000)
        while True:
            if not self.pending:
                self._work.clear()
                await self._work.wait()
                continue
            oldest = min(p.sent_ms for p in self.pending.values())
            await clock.sleep_until(oldest + timeout_ms)
            now = clock.now_ms()
            late = [i for i, p in self.pending.items() if now - p.sent_ms >= timeout_ms]
            if not late:
                continue
            if now - max(self.last_answer_ms, oldest) >= timeout_ms:  # nothing answered: stuck, not just behind
                self.killed = f"answered nothing for {self.pool.timeout_s:g} s and was killed"
                self.ready = False
                self._fail_pending()
                proc.kill()
                return
            for i in late:
                pending = self.pending.pop(i)
                if not pending.future.done():
                    pending.future.set_result(None)

    def _fail_pending(self) -> None:
        pending, self.pending = self.pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_result(None)

    def restart(self) -> None:
        """Serve the reloaded library: the one `prepare_reload` loaded in the process, from the next message on;
        else a new process (the old one finishes what it has, then exits), the service matching meanwhile."""
        if self.prepared is not None and self.send(frame(Swap())):
            self.prepared = None
            log.info("matching worker %d serves the reloaded library", self.number)
            return
        self.prepared = None
        self.ready = False
        if self.proc is not None and self.proc.returncode is None and self.proc.stdin is not None:
            self.restarting = True
            self.proc.stdin.close()

    async def prepare_reload(self) -> Prepared | None:
        """Load the library again in the serving process, beside the library it serves (which keeps answering):
        what it answered, or None when it has no process ready for it or its process went meanwhile (a new one
        loads the reloaded library at `restart`)."""
        self.prepared = None
        proc = self.proc
        if not self.ready or proc is None:
            return None
        if not self.send(frame(self.pool.settings)):
            return None
        preparing = self._preparing = asyncio.get_running_loop().create_future()
        watch = asyncio.ensure_future(self._own_time(proc, preparing.done))
        try:
            await asyncio.wait((preparing, watch), return_when=asyncio.FIRST_COMPLETED)
            if not preparing.done() and (over := watch.result()) is not None:
                # Its own time, as a loading one's: at a load average of 32, 60 s of wall time killed a sound one.
                self.killed = f"did not load the reloaded library in {self._said(over, 'it was asked')} and was killed"
                log.warning("matching worker %d %s; a new process loads it", self.number, self.killed)
                proc.kill()
                return None
            reply = preparing.result()
        finally:
            watch.cancel()
            self._preparing = None
        if reply is None:
            log.warning("matching worker %d went during the reload; a new process loads the reloaded library",
                        self.number)  # fmt: skip
        elif not reply.error:
            self.prepared = reply
            log.info("matching worker %d loaded the reloaded library: %d phrases (%d files read, %d phrases"
                     " checked)", self.number, reply.phrases, reply.read, reply.checked)  # fmt: skip
        return reply

    def drop_prepared(self) -> None:
        """Let the process drop what `prepare_reload` loaded (the reload was refused)."""
        if self.prepared is not None:
            self.prepared = None
            self.send(frame(Drop()))

    async def close(self) -> None:
        proc = self.proc
        # Still loading the library, nothing sent to it: nothing to finish. Closing its stdin held the stop until
        # the load was over, or TIMEOUT_S (a 20,000-phrase library loads in about 11 s).
        loading = self.ready_since is None and not self.pending
        self.ready = False
        if proc is not None and proc.returncode is None:
            if loading:
                proc.kill()
                await proc.wait()
            else:
                await _stop(proc)


class MatchingWorkers:
    """`count` worker processes behind one `submit`: a conversation's own worker takes each of its requests,
    or the least busy ready one when that one is not ready or `SPILL` requests further behind.

    `adoption()` gives every shop's adoption counts as the service has them: a new process gets them first,
    then every change (`adopt`, `used`) follows on the same ordered stream as the requests.
    """

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        adoption: Callable[[], Mapping[str, Mapping[str, int]]],
        clock: Clock | None = None,
        timeout_s: float = TIMEOUT_S,
        load_timeout_s: float = LOAD_TIMEOUT_S,
        waiting: Callable[[int], float] = process_run_queue_wait,
    ) -> None:
        self.settings = settings
        self.adoption = adoption
        self.clock: Clock = clock or SystemClock()
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s
        self.waiting = waiting  # a process's wait for a processor so far (seconds): left out of its load's time
        self.closing = False
        self.answered = 0  # requests a worker answered (the others were matched in the service)
        self._ids = itertools.count(1)
        self._workers = [_Worker(self, n + 1) for n in range(count)]
        self._tasks = TaskSet("matching workers")

    def start(self) -> None:
        """Start the processes in the background: the service does not wait for them."""
        for worker in self._workers:
            self._tasks.spawn(worker.run(), name=f"matching worker {worker.number}")

    @property
    def ready(self) -> int:
        """How many workers are ready to take requests."""
        return sum(w.ready for w in self._workers)

    @property
    def pending(self) -> int:
        """Requests sent and not answered yet."""
        return sum(len(w.pending) for w in self._workers)

    @property
    def queues(self) -> list[int]:
        """Requests sent to each worker and not answered yet."""
        return [len(w.pending) for w in self._workers]

    @property
    def states(self) -> list[str]:
        """Each worker's state: ready, starting, waiting (to be restarted) or stopped."""
        return ["ready" if w.ready else w.state for w in self._workers]

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers that are running (ready or loading)."""
        return [w.proc.pid for w in self._workers if w.proc is not None and w.proc.returncode is None]

    def submit(self, request: Request | Search, conversation: str = "") -> asyncio.Future[Reply | None] | None:
        """Send a message to its conversation's worker (or the least busy ready one, above): a future of its
        answer (None: match it yourself), or None at once when no worker can take it. The request's own id is
        not used.

        A worker reads each earlier text of a conversation once and keeps the reading: sent to whichever worker
        was least busy, a conversation's texts were read again by each worker its messages met.
        """
        ready = [w for w in self._workers if w.ready and len(w.pending) < MAX_PENDING]
        if not ready:
            return None
        worker = min(ready, key=lambda w: len(w.pending))
        own = self._workers[zlib.crc32(conversation.encode("utf-8", "surrogatepass")) % len(self._workers)]
        if own is not worker and own in ready and len(own.pending) < len(worker.pending) + SPILL:
            worker = own
        return worker.submit(msgspec.structs.replace(request, id=next(self._ids)))

    def adopt(self, shop: str, counts: Mapping[str, int]) -> None:
        """A shop's adoption counts, as just loaded."""
        self._broadcast(frame(Adoption(shop, dict(counts))))

    def used(self, shop: str, phrase_id: str) -> None:
        """One more use of a phrase."""
        self._broadcast(frame(UsedMessage(shop, phrase_id)))

    def _broadcast(self, data: bytes) -> None:
        for worker in self._workers:
            worker.send(data)

    async def prepare(self) -> list[tuple[int, Prepared | None]]:
        """Each worker loads the library again in its own process, beside the one it serves (which keeps
        answering), reading and checking only the files whose content changed: `restart` then swaps it in.
        Each worker's number and answer (None: it had no process ready, or it went; a new one loads it)."""
        replies = await asyncio.gather(*(w.prepare_reload() for w in self._workers))
        return [(w.number, reply) for w, reply in zip(self._workers, replies, strict=True)]

    def drop_prepared(self) -> None:
        """Let the workers drop what `prepare` loaded (the reload was refused)."""
        for worker in self._workers:
            worker.drop_prepared()

    def restart(self) -> None:
        """Serve the reloaded library: what `prepare` loaded, from the next message on; else in new processes,
        the service matching meanwhile."""
        for worker in self._workers:
            worker.restart()

    async def close(self) -> None:
        """Close the workers' stdin and wait for them to exit (killed after a timeout); stop the tasks."""
        self.closing = True
        await asyncio.gather(*(w.close() for w in self._workers))
        await self._tasks.close()
        for worker in self._workers:  # one caught between spawning and its first read
            await worker.close()


async def _stop(child: Child) -> None:
    """End a process: its stdin closed (it exits once it has answered what it had), killed after TIMEOUT_S."""
    child.stdin.close()
    try:
        await asyncio.wait_for(child.wait(), TIMEOUT_S)
    except TimeoutError:
        child.kill()
        await child.wait()
