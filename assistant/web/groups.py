"""GET /v1/admin/writer: the writer's groups counted since the start (admin token).

How many groups the writer committed, how many jobs each held and how long each job waited from its submission to
its group's BEGIN, in powers of two (assistant/logfile/groups.py): read twice, the difference says how a load is
grouped (`python -m bench bench_webhook` prints it per row).
"""

from __future__ import annotations

from aiohttp import web

from assistant.web.appkeys import WRITER
from assistant.web.auth import require


async def get_writer(request: web.Request) -> web.Response:
    """The writer's group counts (admin)."""
    require(request, "admin")
    return web.json_response(request.app[WRITER].groups.snapshot())
