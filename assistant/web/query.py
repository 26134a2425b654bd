"""Query parameters read strictly: a free text (`text` of /v1/suggest, /v1/qa/check) is percent-encoded UTF-8.

aiohttp decodes a query leniently: GBK percent-escapes (`%D4%DA%C2%F0`, 在吗 as some Chinese clients send
it) became replacement characters, a broken escape (`%ZZ`) stayed as typed and `%00` a NUL; each was
answered 200 with no suggestion, as if the buyer had written nothing useful.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, unquote_to_bytes

from aiohttp import web

from assistant.web.errors import JsonError

_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def query_text(request: web.Request, name: str) -> str | None:
    """The first value of query parameter `name`, or None; JsonError (400 naming it) unless it is
    well-formed percent-encoded UTF-8 without NUL."""
    for pair in request.rel_url.raw_query_string.split("&"):
        key, _, raw = pair.partition("=")
        if unquote_plus(key) != name:
            continue
        if _BROKEN_ESCAPE.search(raw):
            raise JsonError(400, "invalid_query", name, "holds a '%' that starts no %XX escape (write % as %25)")
        try:
            value = unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError(
                400, "invalid_query", name, "is not percent-encoded UTF-8 (GBK?): encode the text as UTF-8 first"
            ) from None
        if "\x00" in value:
            raise JsonError(400, "invalid_query", name, "must not contain NUL characters")
        return value
    return None
