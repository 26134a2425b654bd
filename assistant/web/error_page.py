"""An error on a page someone opened in a browser, as a page in the supervisors' language.

Every endpoint answers errors in one JSON shape (`errors.py`), which programs read. A supervisor who opens the
daily report from an old link gets `{"error": "unauthorized", …}` in English; every handler's guard (`guard.py`)
answers the same error, with the same status and headers, as a short page saying what happened and what to do,
when the request is for one of the pages (`PAGES`) and the client asks for HTML first (a browser does; curl and
scripts do not).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.i18n import N_, translator
from assistant.templating import FAVICON, environment
from assistant.web.appkeys import CONFIG
from assistant.web.auth import TOKEN_PAGES
from assistant.web.errors import as_json

# The supervisors' pages (a page added there is one here) and the agents' panel.
PAGES = TOKEN_PAGES | {"/panel"}
# The headline and the advice per status; any other status reads as the server's fault.
_WORDS: dict[int, tuple[str, str]] = {
    400: (
        N_("The link's values are not right"),
        N_("Check the date (YYYY-MM-DD) and the other values in the address, or open the page without them."),
    ),
    401: (
        N_("This page needs a valid token"),
        N_(
            "Open it with the whole link you were given (it carries ?token=…). "
            "If that link stopped working, the token has been changed: ask your administrator for a new link."
        ),
    ),
    403: (N_("This link does not open this page"), N_("Ask your administrator for a link to this page.")),
    404: (N_("Nothing to show here"), N_("Check the address, or open the page without its values.")),
    409: (
        N_("This day's archive cannot be read"),
        N_("Its file, named below, is damaged or missing: tell your administrator. The other days open as usual."),
    ),
    503: (N_("The service is busy or restarting"), N_("Reload the page in a moment.")),
}
_SERVER_FAULT = (
    N_("Something went wrong on the server"),
    N_("Reload the page; if it keeps happening, tell your administrator."),
)
# Messages of the JSON errors a page can get that no handler translates: aiohttp's for an address no route serves,
# and the server's own (errors.py, starting.py), whose part in parentheses (the start's step, SQLite's reason, in
# English for the service's log) the page leaves out.
_SERVER_MESSAGES = (
    N_("Not Found"),
    N_("internal error; the request was not processed"),
    N_("the service is stopping; retry later"),
    N_("the service is starting; retry later"),
    N_("the database cannot be read now; retry later"),
    N_("the database cannot be written now; retry later"),
)
# What a page's link values are to a supervisor: a bad one is said as a sentence naming it in words (链接中的日期
# （date）不对：…), not as the parameter's name before a colon (`date: …`, `to: … 早于 from …`).
_FIELDS: dict[str, str] = {
    "date": N_("the date"),
    "from": N_("the first day"),
    "to": N_("the last day"),
    "shop": N_("the shop"),
    "offset": N_("the place in the list"),
    "limit": N_("the number of rows"),
    "format": N_("the format"),
}
_FIELD_SAID = N_("%(what)s in the link (%(field)s) is not right: %(reason)s")
_VALUE_SAID = N_("the value %(field)s in the link is not right: %(reason)s")
_ASIDE = re.compile(r" \([^()]*\)(?=;)")
# Headers of the JSON answer that still hold for the page (the others describe the JSON body).
_KEPT_HEADERS = ("Retry-After", "Allow", "WWW-Authenticate")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def wants_page(request: web.BaseRequest) -> bool:
    """A browser asking for one of the pages: a GET whose Accept names text/html."""
    return (
        request.method in ("GET", "HEAD") and request.path in PAGES and "text/html" in request.headers.get("Accept", "")
    )


def render(status: int, detail: dict[str, Any], language: str) -> str:
    """The error page: status, headline, advice, and the JSON's field and message as the detail."""
    t = translator(language)
    headline, advice = _WORDS.get(status, _SERVER_FAULT)
    field, message = detail.get("field"), detail.get("message")
    if isinstance(message, str):
        # the messages the catalog knows (invalid token → 令牌无效); others as they are
        plain = _ASIDE.sub("", message)
        said = t.gettext(plain) if plain in _SERVER_MESSAGES else plain
        message = said if said != plain else t.gettext(message)  # an English page keeps the aside
    sentence = status == 400 and bool(field and message)
    if sentence:  # a value of the link: said in words for a supervisor, as text (not code)
        what = _FIELDS.get(str(field))
        shown = (
            t.gettext(_FIELD_SAID, what=t.gettext(what), field=field, reason=message)
            if what is not None
            else t.gettext(_VALUE_SAID, field=field, reason=message)
        )
        shown = shown[:1].upper() + shown[1:]  # a sentence (English: "The date in the link …")
    else:
        shown = f"{field}: {message}" if field and message else str(message or "")
    return (
        environment(language)
        .get_template("error.html")
        .render(
            status=status,
            headline=t.gettext(headline),
            advice=t.gettext(advice),
            detail=shown,
            sentence=sentence,
            favicon=FAVICON,
        )
    )


def wants_page_error(request: web.BaseRequest) -> bool:
    """A browser asking for an address outside the API (a page's link mistyped, /report/daily): its 404 is a page
    too, where it was aiohttp's English {"message": "Not Found"}."""
    return (
        request.method in ("GET", "HEAD")
        and not request.path.startswith("/v1/")
        and "text/html" in request.headers.get("Accept", "")
    )


async def answer_page(request: web.Request, handler: Handler, page: bool) -> web.StreamResponse:
    """A browser's request (`wants_page`: `page`, or `wants_page_error`) answered by `handler` (`guard.guarded`):
    a failure in the JSON shape (`errors.as_json`), and a JSON error of a page, or a 404, as a page; everything else
    passes through unchanged."""
    try:
        answer = await handler(request)
    except Exception as exc:
        failed = as_json(request, exc)
        if failed is None:  # an HTTP exception in JSON already (a token's refusal), or no error at all
            if isinstance(exc, web.HTTPException) and exc.status >= 400 and (page or exc.status == 404):
                return as_page(exc.status, exc.text, exc.headers, request.app[CONFIG].ui.language)
            raise
        answer = failed
    if answer.status < 400 or not isinstance(answer, web.Response) or answer.content_type != "application/json":
        return answer
    if not (page or answer.status == 404):
        return answer
    return as_page(answer.status, answer.text, answer.headers, request.app[CONFIG].ui.language)


def as_page(status: int, body: str | None, headers: Any, language: str) -> web.Response:
    """A JSON error's page: the same status and the headers that still hold."""
    try:
        detail = json.loads(body or "{}")
    except ValueError:
        detail = {"message": body}
    if not isinstance(detail, dict):
        detail = {}
    kept = {name: headers[name] for name in _KEPT_HEADERS if name in headers}
    kept.update({"Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
    html = render(status, detail, language)
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8", headers=kept)
