"""Time: an injectable clock (system or fake) for timers, shop quiet hours, and shop-local days (the one place
that turns local days into epoch milliseconds and back); the time a thread or process waited for a processor."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clocktime
from typing import Protocol
from zoneinfo import ZoneInfo

from assistant.i18n import _


class Clock(Protocol):
    """Epoch milliseconds now, and a sleep until an epoch-millisecond deadline."""

    def now_ms(self) -> int: ...

    async def sleep_until(self, ms: int) -> None: ...


class SystemClock:
    """The wall clock; sleeps in naps so that a clock step (NTP) is noticed within `max_nap_s`."""

    def __init__(self, max_nap_s: float = 10.0) -> None:
        self.max_nap_s = max_nap_s

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, ms: int) -> None:
        while True:
            remaining = (ms - self.now_ms()) / 1000
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, self.max_nap_s))


class FakeClock:
    """A clock for tests: time moves only by `advance`/`set`, which wake the sleepers that came due."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = time.time_ns() // 1_000_000 if start_ms is None else start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.waking = 0  # sleepers woken whose coroutine has not resumed yet

    def now_ms(self) -> int:
        return self._now

    async def sleep_until(self, ms: int) -> None:
        if ms <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (ms, next(self._order), future))
        try:
            await future
        finally:
            if future.done() and not future.cancelled():
                self.waking -= 1

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self.set(self._now + round(seconds * 1000))

    def set(self, ms: int) -> None:
        if ms < self._now:
            raise ValueError("a FakeClock does not go backwards")
        self._now = ms
        while self._sleepers and self._sleepers[0][0] <= ms:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                self.waking += 1

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())


_SPAN = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


class RunQueueWait:
    """The calling thread's time so far runnable but not running (waiting for a processor: preempted), in seconds, from
    Linux's /proc/thread-self/schedstat; 0.0 where the kernel does not say (a call's wall time then counts whole). A
    call's own time is its wall time less this: its CPU time and its waits of its own (a sleep, the network)."""

    def __init__(self) -> None:
        self._local = threading.local()  # each thread's open schedstat (closed with its thread)
        self.available = True

    def __call__(self) -> float:
        opened: _Opened | None = getattr(self._local, "file", None)
        if opened is None:
            if not self.available:
                return 0.0
            try:
                opened = self._local.file = _Opened(os.open("/proc/thread-self/schedstat", os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                self.available = False
                return 0.0
        try:
            return int(os.pread(opened.fd, 80, 0).split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0


def process_run_queue_wait(pid: int) -> float:
    """The time process `pid`'s main thread has waited for a processor so far (runnable, not running), in seconds,
    from /proc/<pid>/schedstat; 0.0 where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stat:
            return int(stat.read(80).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class _Opened:
    """A file descriptor closed when its thread's locals go."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        os.close(self.fd)


@dataclass(frozen=True)
class QuietHours:
    """A daily span of shop-local time (may cross midnight) in which nothing is sent."""

    start: clocktime
    end: clocktime

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """ "23:00-08:00" → QuietHours; "" → None; anything else raises ValueError."""
        if not text.strip():
            return None
        match = _SPAN.fullmatch(text)
        if match is None:
            raise ValueError(_("expected %(format)s, got %(value)s", format="'HH:MM-HH:MM'", value=repr(text)))
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(_("not a time of day in %(value)s", value=repr(text)))
        start, end = clocktime(h1, m1), clocktime(h2, m2)
        if start == end:
            raise ValueError(_("empty span %(value)s", value=repr(text)))
        return cls(start, end)

    def contains(self, ms: int, tz: ZoneInfo) -> bool:
        t = _local(ms, tz).time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def end_after(self, ms: int, tz: ZoneInfo) -> int:
        """Epoch ms of the first end of quiet hours after `ms`."""
        local = _local(ms, tz)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return int(end.timestamp() * 1000)


@dataclass(frozen=True)
class ServiceHours:
    """The span of each local day a shop's agents are on duty ("09:00-23:00", may cross midnight, "24:00" for the end
    of the day): a buyer's wait runs only while it is open (docs/kpi.md, "Service hours")."""

    open: clocktime
    close: clocktime

    @classmethod
    def parse(cls, text: str) -> ServiceHours | None:
        """ "09:00-23:00" → ServiceHours; "" → None (always open); anything else raises ValueError."""
        if re.fullmatch(r"\s*0?0:00\s*-\s*24:00\s*", text):  # the whole day
            return None
        span = QuietHours.parse(re.sub(r"-\s*24:00\s*$", "-00:00", text))
        return None if span is None else cls(span.start, span.end)

    def spans(self, day: date, tz: ZoneInfo) -> tuple[tuple[int, int], ...]:
        """Epoch ms of the openings and closings of the day before `day`, `day` and the day after (a day's report
        reads replies until the end of the next, and a span of the day before may reach past midnight)."""
        out = []
        for back in (-1, 0, 1):
            opening = day + timedelta(days=back)
            closing = opening if self.open < self.close else opening + timedelta(days=1)
            out.append((_at(opening, self.open, tz), _at(closing, self.close, tz)))
        return tuple(out)


def _at(day: date, at: clocktime, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, at, tzinfo=tz).timestamp() * 1000)


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


# ---- shop-local days ----------------------------------------------------------------------------

# The years an event may be stamped in (events.py refuses the others). A day asked for outside them is a
# mistake (0001, 9999), and at `date`'s own limits the next day, which reports and logs read too, does not exist.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def parse_day(text: str) -> date:
    """A local day written YYYY-MM-DD, in FIRST_YEAR..LAST_YEAR; ValueError saying what is wrong otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"expected a day in the years {FIRST_YEAR}-{LAST_YEAR}, got {text}")
    return day


def midnight(day: date, tz: ZoneInfo) -> int:
    """Epoch ms of the local midnight that starts `day`."""
    return int(datetime.combine(day, clocktime(0), tzinfo=tz).timestamp() * 1000)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """Epoch ms of the local midnight that starts `day` and of the one that ends it (DST-safe)."""
    return midnight(day, tz), midnight(day + timedelta(days=1), tz)


def local_day(ts_ms: int, tz: ZoneInfo) -> date:
    """The local day an epoch-ms instant falls on."""
    return _local(ts_ms, tz).date()


def local_time(ts_ms: int, tz: ZoneInfo) -> datetime:
    """An epoch-ms instant as an aware local datetime."""
    return _local(ts_ms, tz)


def yesterday(tz: ZoneInfo, now: datetime | None = None) -> date:
    """The local day before today (what supervisors read each morning)."""
    return (now or datetime.now(tz)).astimezone(tz).date() - timedelta(days=1)
