"""Every request's errors without a middleware: each route's handler runs inside `guarded`, and a request no route
takes is answered by `Unrouted`, the router's last resource, with aiohttp's own 404 or 405 raised inside it.

An application with any middleware runs every request through two coroutines more than its handler's: the middleware
and the layer aiohttp adds around the handler whenever one exists (`_fix_request_current_app`, which sets the
request's application to the one it already is when there is no sub-application). A webhook's POST did nothing in
them but pass through. A handler's failure is answered as the one error middleware answered it (`errors.as_json`,
and `error_page.answer_page` for a browser), so every error answer is the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import _InfoDict

from assistant.web.error_page import answer_page, wants_page, wants_page_error
from assistant.web.errors import as_json


def guarded(handler: Handler) -> Handler:
    """`handler`, its failures answered in the JSON shape, and a page's JSON error as a page for a browser."""

    @functools.wraps(handler)
    async def guard(request: web.Request) -> web.StreamResponse:
        method = request.method
        page = False
        # A webhook's POST, an API's GET: no page (the method asked for once, not in two checks).
        if (
            (method != "GET" and method != "HEAD")
            or not (page := wants_page(request))
            and not wants_page_error(request)
        ):
            try:
                return await handler(request)
            except Exception as exc:
                failed = as_json(request, exc)
                if failed is None:
                    raise
                return failed
        return await answer_page(request, handler, page)

    return guard


def guarded_routes(routes: Sequence[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """`routes`, each handler `guarded`."""
    return [
        web.RouteDef(r.method, r.path, guarded(r.handler), r.kwargs) if isinstance(r, web.RouteDef) else r
        for r in routes
    ]


class Unrouted(web.AbstractResource):
    """The router's last resource: a request whose path and method no route takes. It raises what aiohttp's router
    answered (404, or 405 naming the methods the path takes, in `Allow`) inside `guarded`, so it is answered as
    every other error is. aiohttp's router asks it last, its path being `/` (the root of every other)."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        super().__init__()
        self._router = router

    @property
    def canonical(self) -> str:
        return "/"

    def url_for(self, **kwargs: str) -> Any:
        raise RuntimeError("no URL is built for requests no route takes")

    async def resolve(self, request: web.Request) -> tuple[web.UrlMappingMatchInfo | None, set[str]]:
        allowed: set[str] = set()
        for resource in self._router.resources():  # the router's own walk found none: on errors only
            if resource is not self:
                _match, methods = await resource.resolve(request)
                allowed |= methods
        refusal = web.HTTPMethodNotAllowed(request.method, allowed) if allowed else web.HTTPNotFound()
        route = web.ResourceRoute(hdrs.METH_ANY, guarded(functools.partial(_refuse, refusal)), self)
        return web.UrlMappingMatchInfo({}, route), set()

    def add_prefix(self, prefix: str) -> None:
        raise RuntimeError("the service has no sub-application")

    def get_info(self) -> _InfoDict:
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return 0  # no route of its own: the route tables (docs, OpenAPI) list only the service's

    def __iter__(self) -> Iterator[web.AbstractRoute]:
        return iter(())


async def _refuse(refusal: web.HTTPException, request: web.Request) -> NoReturn:
    raise refusal
