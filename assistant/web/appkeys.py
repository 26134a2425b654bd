"""Typed keys for everything the aiohttp application holds (set by `create_app` and its clean-up contexts)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from assistant import store
from assistant.bus import Bus
from assistant.config import Config
from assistant.live import LiveFeed, Publisher
from assistant.web.filelimit import FileLimit

if TYPE_CHECKING:
    from assistant.cluster.budget import Budget
    from assistant.cluster.relay import Relay
    from assistant.cluster.reloads import FleetReloads
    from assistant.followups.service import FollowupService
    from assistant.ingest import Ingestor
    from assistant.plugins import Plugins
    from assistant.qa.inspector import Inspector
    from assistant.qa.service import QaService
    from assistant.suggest.engine import SuggestionEngine
    from assistant.web.chatwoot_memory import ChatwootMemory
    from assistant.web.starting import Startup
    from assistant.web.stopping import Reads
    from assistant.writer import Writer

CONFIG = web.AppKey("config", Config)
DB_PATH: web.AppKey[store.Location] = web.AppKey("db_path")  # the log: an SQLite file or a PostgreSQL database
WRITER: web.AppKey[Writer] = web.AppKey("writer")
INGESTOR: web.AppKey[Ingestor] = web.AppKey("ingestor")
BUS = web.AppKey("bus", Bus)
ENGINE: web.AppKey[SuggestionEngine] = web.AppKey("engine")
PLUGINS: web.AppKey[Plugins] = web.AppKey("plugins")
FOLLOWUPS: web.AppKey[FollowupService] = web.AppKey("followups")
FEED = web.AppKey("live_feed", LiveFeed)
PUBLISHER = web.AppKey("publisher", Publisher)
QA: web.AppKey[QaService] = web.AppKey("qa")
QA_INSPECTOR: web.AppKey[Inspector] = web.AppKey("qa_inspector")
CHATWOOT: web.AppKey[ChatwootMemory] = web.AppKey("chatwoot_memory")
RELAY: web.AppKey[Relay] = web.AppKey("relay")  # only when instances share a PostgreSQL database
FLEET: web.AppKey[FleetReloads] = web.AppKey("fleet_reloads")  # the same: reloads of every instance
BUDGET: web.AppKey[Budget] = web.AppKey("connection_budget")  # the same: the instances' connections counted
LOADED = web.AppKey("library_loaded", float)  # when the start read the phrase files (time.monotonic)
# One workbook built at a time: each holds a core and its file in memory for up to a minute on a large day (four
# at once took 240 s each and kept 400 MB); the others wait their turn.
WORKBOOKS = web.AppKey("workbooks", asyncio.Semaphore)
# One library reload at a time: a second (SIGHUP during an admin reload) waits, then loads the files as they are then.
RELOADING = web.AppKey("reloading", asyncio.Lock)
STARTUP: web.AppKey[Startup] = web.AppKey("startup")  # listening before the start is over (web/starting.py)
READS: web.AppKey[Reads] = web.AppKey("reads")  # abandoned at the stop (web/stopping.py)
FILES = web.AppKey("files", FileLimit)  # the open-file limit: met, connections are reset (web/filelimit.py)
