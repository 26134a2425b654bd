"""The baseline: an aiohttp handler that reads the body and answers, doing nothing else."""

from __future__ import annotations

import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": True, "duplicate": False})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/events", handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)  # ready at once: nothing to recover
    import uvloop  # the same event loop as the service, so the ratio compares handlers, not loops

    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
