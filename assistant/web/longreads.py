"""Supervisors' long reads of a day (the daily log's page and workbook, the day's inspection): each kind in threads
of its own, a few at once (the others wait their turn), on PostgreSQL from the reports' connections
(`pg.supervisors_reads`), their statements cancelled past `[store] report_timeout_s`; on SQLite their connections
are interrupted when the service stops (daylog/interrupts.py).

Eight supervisors opening a big day's log read on the readers' pool and in the loop's default threads: a panel page
waited 6.3-6.9 s and the events' p99 rose to 450-590 ms (docs/scaling.md). The day's inspection read the same way.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import nullcontext
from typing import TypeVar

from aiohttp import web

from assistant import pg
from assistant.config import Config
from assistant.i18n import translator
from assistant.kpi import report
from assistant.web import stopping
from assistant.web.errors import json_error
from assistant.web.stopping import ReadsAbandoned

T = TypeVar("T")


class TimedOut(Exception):
    """A long read's statement was cancelled past `[store] report_timeout_s` (PostgreSQL)."""


class LongReads:
    """One kind of long read: its threads (`at_once`), and its 503 when cancelled past the time limit (`error`, the
    catalog's `message` with `%(s)s` for the limit)."""

    def __init__(self, name: str, at_once: int, error: str, message: str) -> None:
        self.threads = ReadsAbandoned(at_once, thread_name_prefix=name)
        self.error = error
        self.message = message

    async def read(self, config: Config, read: Callable[[], T]) -> T:
        """`read()` in this kind's threads, on PostgreSQL on the reports' connections, on SQLite interrupted at the
        service's stop; TimedOut past the limit."""
        reads = stopping.current.get()
        interrupts = reads.sqlite.reading() if reads is not None else nullcontext()

        def reading() -> T:
            with pg.supervisors_reads(config.store.report_timeout_s), interrupts:
                try:
                    return read()
                except sqlite3.OperationalError as exc:
                    if report.timed_out(exc):
                        raise TimedOut from exc
                    raise

        return await asyncio.get_running_loop().run_in_executor(self.threads, reading)

    def timed_out(self, config: Config) -> web.Response:
        """The 503 of a read cancelled past the limit, said in `[ui] language`."""
        shown = translator(config.ui.language).gettext(self.message, s=f"{config.store.report_timeout_s:g}")
        return json_error(503, self.error, None, shown)
