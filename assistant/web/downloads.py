"""Files the supervisors' pages hand out: the report and the daily log as workbooks (`?format=xlsx`)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_FORMATS = ("html", "xlsx")


class FormatError(ValueError):
    """`format` names neither the page nor a workbook."""


def wanted_format(query: object) -> str:
    """`html` (the page, by default) or `xlsx` (its workbook)."""
    fmt = query.get("format") or "html"  # type: ignore[attr-defined]
    if fmt not in PAGE_FORMATS:
        raise FormatError(f"expected one of {', '.join(PAGE_FORMATS)}, got {fmt!r}")
    return str(fmt)


def ascii_name(text: str) -> str:
    """`text` as the plain file name old clients get: what is not a letter, digit, . or - becomes _."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-") else "_" for ch in text)


def workbook_response(data: bytes, ascii_name: str, local_name: str) -> web.Response:
    """A workbook to save: `ascii_name` for old clients, `local_name` (e.g. 客服日志-2026-11-20.xlsx) for the rest."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(local_name, safe='')}"
    return web.Response(
        body=data,
        content_type=XLSX,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
