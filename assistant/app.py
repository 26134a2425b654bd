"""`create_app(config)`: routes, middlewares, and the resources' start-up and clean-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from assistant.appkeys import BUS, CONFIG, DB_PATH, INGESTOR, WRITER
from assistant.bus import Bus
from assistant.config import Config
from assistant.http_errors import error_middleware
from assistant.ingest import Ingestor
from assistant.webhooks import healthz, post_events
from assistant.writer import Writer

log = logging.getLogger(__name__)


def create_app(config: Config, *, db_path: Path | None = None) -> web.Application:
    """Build the web application; resources open on start-up and close on clean-up."""
    app = web.Application(
        middlewares=[error_middleware],
        # Our own handler enforces max_body_bytes with a JSON 413; this is the hard stop.
        client_max_size=config.server.max_body_bytes + 1024,
    )
    app[CONFIG] = config
    app[DB_PATH] = db_path or config.resolve(config.store.path)
    app[BUS] = Bus()
    app.router.add_post("/v1/events", post_events)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_writer_ctx)
    return app


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    writer = Writer(app[DB_PATH])
    writer.start()
    app[WRITER] = writer
    app[INGESTOR] = Ingestor(writer)
    yield
    await writer.close()
    log.info("interaction log flushed and closed (%d commits, %d jobs)", writer.commits, writer.jobs)
