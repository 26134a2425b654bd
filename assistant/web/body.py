"""Request bodies, one way for every route: read whole up to a limit, then decoded as JSON by one decoder; and
a webhook's answer, its JSON already encoded (`json_answer`).

`request.content.read(n)` returns what has arrived so far, not `n` bytes: a body sent in several TCP
segments (a relay, `Expect: 100-continue`, a slow network) must be read until its end. Every malformed
body is a `BodyError` naming the problem (the route's guard answers it 400/408/413 in JSON), never a 500.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import math
import re
import zlib
from typing import Any

import msgspec
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict, CIMultiDictProxy

log = logging.getLogger(__name__)

MAX_DEPTH = 32  # events are flat; Chatwoot payloads nest about 5 deep
MAX_INT_DIGITS = 100  # beyond any id or amount; keeps every int convertible to float
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What the fast decoder would read differently: a number too long. (An escape it reads as the standard decoder
# does; a lone surrogate escape it refuses, and the standard way replaces.)
_NEEDS_CARE = re.compile(rb"\d{%d}" % (MAX_INT_DIGITS + 1))


class BodyError(Exception):
    """A request body that cannot be used; `status` and `message` say why (`error` is the JSON code)."""

    def __init__(self, status: int, message: str, *, error: str = "invalid_body", field: str | None = "body") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.field = field


async def read_body(request: web.Request, limit: int, *, timeout_s: float | None = None) -> bytes:
    """The whole body, decompressed (`Content-Encoding`), refusing more than `limit` bytes without reading or
    inflating them all.

    Reads until the end of the body, however many segments it arrives in; `timeout_s` bounds how
    long a slow sender may take (408).
    """
    transfer_codings(request)  # before the body is read: it would be read as the compressed bytes it is
    codings = content_codings(request)  # an encoding not accepted is refused before the body is read
    declared = request.content_length  # a property parsing the header: read once
    if declared is not None and declared > limit:
        raise BodyError(413, f"body exceeds {limit} bytes", error="payload_too_large")
    body = await _read_raw(request, limit, timeout_s)
    for coding in reversed(codings):  # the sender applied them in the order listed
        body = _inflate(body, coding, limit)
    return body


async def _read_raw(request: web.Request, limit: int, timeout_s: float | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        if request.content.is_eof():
            # The whole body came with the headers (nearly every webhook): take it, no timer to arm.
            chunks.append(request.content.read_nowait(-1))
            if len(chunks[0]) > limit:
                raise BodyError(413, f"body exceeds {limit} bytes", error="payload_too_large")
            return chunks[0]
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await request.content.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, f"body exceeds {limit} bytes", error="payload_too_large")
    except TimeoutError:
        raise BodyError(408, f"body not received within {timeout_s:g} s", error="request_timeout") from None
    except ConnectionResetError:  # the client went away mid-body: its mistake (or its network's), not ours
        raise BodyError(400, "the connection closed before the body ended", error="incomplete_body") from None
    except (HttpProcessingError, RequestPayloadError) as exc:  # bad chunking
        # The parser's message, not the exception's repr ("400, message: …").
        detail = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        detail = " ".join(str(detail).split()) or type(exc).__name__
        raise BodyError(400, f"body cannot be read: {_brief(detail)}") from None
    return b"".join(chunks)


# ---- content codings ------------------------------------------------------------------------------

# The service inflates bodies itself (aiohttp's own decoding is off, `create_app`): aiohttp took a gzip body
# cut before its checksum and length, left `x-gzip` (RFC 9110 §8.4.1.3: gzip) and `gzip, gzip` undecoded, and
# answered `br` with "Please install `Brotli`".
ACCEPTED_CODINGS = ("gzip", "x-gzip", "deflate", "identity")
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def transfer_codings(request: web.Request) -> None:
    """BodyError naming `Transfer-Encoding` when it lists a coding other than `chunked` (`gzip, chunked`).

    aiohttp takes the chunks off and leaves a transfer coding's compression on: such a body was refused as "not
    valid utf-8", or as a signature that does not match, naming neither the header nor the fix. No sender of
    webhooks here compresses a request (Chatwoot's Net::HTTP does not), so it is refused, saying how to send it.
    """
    values = request.headers.getall(hdrs.TRANSFER_ENCODING, ())
    if not values:  # nearly every webhook: its length given
        return
    listed = [c.strip().lower() for value in values for c in value.split(",")]
    other = [c for c in listed if c and c != "chunked"]
    if other:
        raise BodyError(
            400,
            f"Transfer-Encoding {_brief(', '.join(other))} is not accepted (only chunked): send the body"
            f" uncompressed, or compressed with Content-Encoding ({', '.join(ACCEPTED_CODINGS[:-1])})",
            field=hdrs.TRANSFER_ENCODING,
        )


def content_codings(request: web.Request) -> list[str]:
    """The body's content codings in the order applied (`identity` left out); BodyError for one not accepted."""
    values = request.headers.getall(hdrs.CONTENT_ENCODING, ())
    if not values:  # nearly every webhook: not compressed
        return []
    listed = [c.strip().lower() for value in values for c in value.split(",")]
    for coding in listed:
        if coding and coding not in ACCEPTED_CODINGS:
            raise BodyError(
                400,
                f"Content-Encoding {_brief(coding)} is not accepted (accepted: {', '.join(ACCEPTED_CODINGS)})",
                field=hdrs.CONTENT_ENCODING,
            )
    return [c for c in listed if c and c != "identity"]


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    """`data` decoded from `coding`, whole and checked (gzip's CRC-32 and length), at most `limit` bytes."""
    out: list[bytes] = []
    size = 0
    while True:
        if coding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw as some senders make it
            wbits = zlib.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -zlib.MAX_WBITS
        else:
            wbits = _GZIP_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            chunk = inflater.decompress(data, limit + 1 - size)  # a bomb stops at the limit, not at its end
        except zlib.error:
            raise BodyError(400, f"body is not valid {coding} data (Content-Encoding: {coding})") from None
        out.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body exceeds {limit} bytes once decompressed", error="payload_too_large")
        if not inflater.eof:
            raise BodyError(400, f"{coding} body cut short: it ends before its end and checksum")
        if not inflater.unused_data:
            return b"".join(out)
        if coding == "deflate":
            raise BodyError(400, "data after the end of the deflate body")
        data = inflater.unused_data  # gzip may hold several members, one after the other (RFC 1952)


# The answer's Content-Type, ready: a Response copies it whole, where `content_type=` and `charset=` put it together
# and set it on every answer (a quarter of the Response's construction).
_JSON_HEADERS = CIMultiDictProxy(CIMultiDict({hdrs.CONTENT_TYPE: "application/json; charset=utf-8"}))


def json_answer(body: bytes) -> web.Response:
    """A 200 of JSON already encoded as UTF-8 (a webhook's answer)."""
    return web.Response(body=body, headers=_JSON_HEADERS)


def declared_charset(request: web.BaseRequest) -> str | None:
    """The charset the request's Content-Type declares, as `request.charset` reads it; the header is parsed only
    when it names one (a webhook's `application/json` does not: parsed for nothing on every event)."""
    raw = request.headers.get(hdrs.CONTENT_TYPE)
    if raw is None or "charset" not in raw.lower():
        return None
    return request.charset


def decode_json(body: bytes, *, charset: str | None = None, names: frozenset[str] = frozenset()) -> Any:
    """Decode a JSON body: UTF-8 (or the declared charset), no NaN/Infinity, bounded depth and numbers.

    JSON between systems is UTF-8 (RFC 8259 §8.1), and some stacks label their UTF-8 `charset=ISO-8859-1`:
    a body that is valid UTF-8 is read as UTF-8 whatever its label, only another body in its declared
    charset (`_text`). A label that is no charset at all is refused.

    A lone surrogate escape (`"\\ud83d"`, half an emoji cut by the sender) is valid JSON and legitimate
    input: it is replaced by U+FFFD (and logged) rather than refused, so the event is not lost. Not in
    `names`, the keys of an event's ids and names (of the top object, or of each object of a top array):
    two ids each ending in a different half became one, and the second event a "duplicate". There it is
    kept, for the caller to refuse naming the field.

    A UTF-8 body is decoded by msgspec (a tenth of the standard decoder's time), `\\u` escapes too (PHP's
    `json_encode` and Python's `json.dumps` escape every Chinese character, Rails `<`, `>` and `&`): it reads
    them as the standard decoder does and refuses a lone surrogate. Whatever it refuses, and any body it might
    read differently (a 100-digit number, deep nesting), takes the standard decoder's way, so every error
    names the problem exactly as before.
    """
    encoding = _encoding(charset) if charset else "utf-8"
    try:
        doc = msgspec.json.decode(body)  # UTF-8 only: a UTF-16 or a GBK body fails here and is decoded below
    except (msgspec.DecodeError, RecursionError):
        pass  # the standard way says what is wrong
    else:
        if not _NEEDS_CARE.search(body) and body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
            return doc
    text = _text(body, encoding, charset)
    try:
        doc = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise BodyError(400, f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except _NumberError as exc:
        raise BodyError(400, str(exc)) from None
    surrogates = "\\u" in text or "\\U" in text
    if not surrogates and text.count("[") + text.count("{") <= MAX_DEPTH:
        return doc  # nothing to replace, and too few brackets to nest too deep: no walk needed
    doc, replaced = _clean(doc, may_have_surrogates=surrogates, names=names)
    if replaced:
        log.warning("replaced %d lone surrogate(s) in a request body with U+FFFD", replaced)
    return doc


async def read_json(request: web.Request, limit: int, *, timeout_s: float | None = None) -> Any:
    """`read_body` then `decode_json` with the request's declared charset."""
    body = await read_body(request, limit, timeout_s=timeout_s)
    return decode_json(body, charset=declared_charset(request))


# ---- decoding ------------------------------------------------------------------------------------


class _NumberError(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NumberError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _NumberError(f"integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError(f"number out of range: {_brief(text)}")
    return value


# The labels the WHATWG Encoding Standard reads as GBK, which GB18030 extends: Chinese systems label GBK text
# `gb2312` (a name like 喆, 堃 or 镕 is not in GB2312), as browsers know.
_GBK_LABELS = frozenset(
    {"gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "chinese", "csgb2312", "csiso58gb231280", "gb_2312",
     "gb_2312-80", "iso-ir-58"}
)  # fmt: skip
# Python's text codecs that are no charset a body is written in: they unescape, or run IDNA, or refuse all.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "charmap"})


def _encoding(charset: str) -> str:
    """The Python codec that reads a declared charset; BodyError for a label that is not a text charset."""
    label = charset.strip().lower()
    if label in _GBK_LABELS:
        return "gb18030"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        raise BodyError(400, f"unknown charset {_brief(charset)}") from None
    if name in _NOT_CHARSETS or not _is_text_encoding(name):
        raise BodyError(400, f"charset {_brief(charset)} is not a text encoding")
    return "gb18030" if name in _GBK_LABELS else name


def _is_text_encoding(name: str) -> bool:
    """Whether a codec reads bytes as text: hex, base64, zlib, rot13… are bytes-to-bytes or text-to-text."""
    try:
        "".encode(name)  # such a codec refuses here, with LookupError ("is not a text encoding")
    except LookupError:
        return False
    return True


def _text(body: bytes, encoding: str, label: str | None) -> str:
    """The body as text: UTF-8 when it is valid UTF-8, else the declared charset (a leading BOM is ignored).

    A UTF-8 body labelled otherwise (`charset=ISO-8859-1` from a Java or PHP stack) was stored as mojibake.
    UTF-16 and UTF-32 JSON always holds NUL bytes (every `{` and `"`), UTF-8 JSON never: those are read by
    their label.
    """
    if encoding == "utf-8" or b"\x00" not in body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            if encoding == "utf-8":
                raise BodyError(400, f"not valid utf-8 (byte {exc.start})") from None
        else:
            return text[1:] if text.startswith("\ufeff") else text
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"not valid {_brief(label or encoding)} (byte {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def _clean(doc: Any, *, may_have_surrogates: bool, names: frozenset[str]) -> tuple[Any, int]:
    """Check the depth (iteratively) and replace lone surrogates but in `names` of the top objects; returns
    the document and how many were replaced."""
    tops = (
        {id(doc)}
        if isinstance(doc, dict)
        else {id(d) for d in doc if isinstance(d, dict)}
        if isinstance(doc, list)
        else set()
    )
    replaced = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    if isinstance(doc, str):
        if may_have_surrogates and _LONE_SURROGATE.search(doc):
            return _LONE_SURROGATE.subn("\ufffd", doc)
        return doc, 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BodyError(400, f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if may_have_surrogates:
                for key in [k for k in node if _LONE_SURROGATE.search(k)]:
                    fixed, n = _LONE_SURROGATE.subn("\ufffd", key)
                    node[fixed] = node.pop(key)
                    replaced += n
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)  # type: ignore[assignment]
        else:
            continue
        for key, value in list(items):
            if isinstance(value, str):
                if may_have_surrogates and _LONE_SURROGATE.search(value):
                    if key in names and id(node) in tops:
                        continue  # an id or a name: refused by the caller, naming it
                    node[key], n = _LONE_SURROGATE.subn("\ufffd", value)
                    replaced += n
            elif isinstance(value, (dict, list)):
                stack.append((value, depth + 1))
    return doc, replaced


def _brief(text: str, limit: int = 60) -> str:
    """A value short enough to quote in an error or a log line."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
