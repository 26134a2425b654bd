"""The one Jinja2 environment for pages: autoescaped, strict about undefined names, with every filter."""

from __future__ import annotations

import asyncio
import functools
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from assistant import i18n

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# The service's icon (a chat bubble), served at /favicon.ico and inlined in pages whose CSP allows no fetch.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<path d="M4 6h24a2 2 0 0 1 2 2v13a2 2 0 0 1-2 2H13l-6 5v-5H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z" fill="#4a7bd0"/>'
    '<circle cx="10" cy="14.5" r="2" fill="#fff"/><circle cx="16" cy="14.5" r="2" fill="#fff"/>'
    '<circle cx="22" cy="14.5" r="2" fill="#fff"/></svg>'
)
FAVICON = "data:image/svg+xml," + quote(FAVICON_SVG)


def format_value(value: Any, kind: str) -> str:
    """A figure as reports show it: `pct`, `money`, `sec`, `ratio`, `score` or a plain number; None as "–".

    Rounded half up from the figure's decimal value (81.25 s shows 81.3), as the workbook's Excel shows it.
    """
    if value is None:
        return "–"
    if kind in _DECIMALS:
        figure = Decimal(str(value)) * (100 if kind == "pct" else 1)
        shown = figure.quantize(Decimal(1).scaleb(-_DECIMALS[kind]), rounding=ROUND_HALF_UP)
        return f"{shown}%" if kind == "pct" else f"{shown:,}" if kind == "money" else str(shown)
    return f"{value:,}" if isinstance(value, int) else str(value)


_DECIMALS = {"pct": 1, "money": 2, "sec": 1, "ratio": 2, "score": 1}


def suggestion_score(score: float | None) -> str:
    """A suggestion's score (0–100, the matcher's rank of the phrase) with its scale, as every form of the daily log
    shows it: 87/100 (a bare 87.25 could be read as 0.87 or as a count); empty for None. Rounded half up."""
    if score is None:
        return ""
    return f"{Decimal(str(score)).quantize(Decimal(1), rounding=ROUND_HALF_UP)}/100"


def duration(seconds: float | None, t: i18n.Translator | None = None) -> str:
    """A short human duration: 42s, 3m05s, 2h10m (42秒, 3分05秒 …); empty for None."""
    if seconds is None:
        return ""
    t = t or i18n.translator("en")
    # Cut to the second on both sides of a minute: rounding below it showed a 59.6 s reply, within the
    # 60 s target, as "60秒", and a 60.4 s one (slow) as "1分00秒"; the clock times beside it are cut too.
    whole = int(seconds)
    if whole < 60:
        return t.gettext("%(s)ss", s=str(whole))
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return t.gettext("%(m)sm%(s)02ds", m=minutes, s=rest)
    return t.gettext("%(h)sh%(m)02dm", h=minutes // 60, m=minutes % 60)


@functools.cache
def environment(language: str = i18n.DEFAULT_LANGUAGE) -> jinja2.Environment:
    """Every page template renders here: customer text is escaped, a missing name is an error.

    One environment per language (renders run in threads: the gettext callables must not be swapped).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["language"] = language
    env.globals["html_lang"] = language.replace("_", "-")
    env.filters["pct"] = lambda v: format_value(v, "pct")
    env.filters["money"] = lambda v: "–" if v is None else f"¥{format_value(v, 'money')}"
    seconds = i18n.translator(language)
    env.filters["sec"] = lambda v: "–" if v is None else seconds.gettext("%(s)ss", s=format_value(v, "sec"))
    env.filters["num"] = lambda v: format_value(v, "int")
    env.filters["ratio"] = lambda v: format_value(v, "ratio")
    env.filters["suggestion_score"] = suggestion_score
    env.filters["duration"] = functools.partial(duration, t=i18n.translator(language))
    env.filters["zone"] = lambda zone: i18n.zone_name(zone, language)
    return env


def render(name: str, language: str = i18n.DEFAULT_LANGUAGE, **context: Any) -> str:
    """Render the page template `name` in `language`."""
    return environment(language).get_template(name).render(**context)


async def render_page(name: str, language: str = i18n.DEFAULT_LANGUAGE, **context: Any) -> str:
    """`render` in a worker thread, for a request handler.

    A page of many conversations takes a while: the daily log's 100 conversations of a busy day 90-150 ms;
    an agent's panel of 500 conversations is a 3 MB page. On the event loop every event waited for it.
    """
    return await asyncio.to_thread(render, name, language, **context)
