"""The message catalog: every string a user reads, in `[ui] language` (zh_CN by default, en available).

Messages are written in English in the code and templates (the gettext convention); the zh_CN catalog,
`assistant/locale/zh_CN/LC_MESSAGES/messages.po`, translates every one of them (tests/test_i18n.py checks
that Babel's extraction and the catalog agree). The .po is compiled in memory when first used, so there is
no build step and no binary file to keep in step with it.
"""

from __future__ import annotations

import errno
import functools
import gettext as _gettext
import io
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = ("zh_CN", "en")  # en is the language of the messages themselves: no catalog needed

_current = DEFAULT_LANGUAGE  # the command line's language, set once per command from the config


def catalog_path(language: str, domain: str = DOMAIN) -> Path:
    """The .po file of a language (`domain` "click": Click's own messages)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def translations(language: str, domain: str = DOMAIN) -> _gettext.NullTranslations:
    """The compiled catalog of `language` (unknown languages raise ValueError; en is the identity)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    if language == "en":
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalog_path(language, domain).open("rb") as f:
        catalog = read_po(f, locale=language, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is not a translation yet
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


class Translator:
    """gettext and ngettext of one language, with %-style named arguments."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._t = translations(language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % {"num": n, **values}


@functools.cache
def translator(language: str) -> Translator:
    """The translator of a language (cached)."""
    return Translator(language)


def use(language: str) -> None:
    """Set the command line's language (from `[ui] language`)."""
    global _current
    translations(language)  # fail here, not at the first message
    _current = language


def current() -> str:
    """The command line's language."""
    return _current


def N_(message: str) -> str:
    """Marks a message for the catalog; translated where it is shown."""
    return message


def _(message: str, **values: object) -> str:
    """A message in the command line's language."""
    return translator(_current).gettext(message, **values)


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """A counted message in the command line's language; `%(num)d` is the count."""
    return translator(_current).ngettext(singular, plural, n, **values)


def event_kinds(language: str) -> dict[str, str]:
    """Event types as the log shows them (the ids stay in JSON and CSV)."""
    t = translator(language)
    return {
        "message": t.gettext("Message"),
        "order_created": t.gettext("Order placed"),
        "order_paid": t.gettext("Paid"),
        "order_closed": t.gettext("Order closed"),
        "order_refunded": t.gettext("Refund"),
        "conversation_closed": t.gettext("Closed"),
        "conversation_assigned": t.gettext("Handed over"),
        "suggestion_used": t.gettext("Suggestion used"),
    }


def followup_states(language: str) -> dict[str, str]:
    """Follow-up states as pages and the command line show them."""
    t = translator(language)
    return {
        "armed": t.gettext("counting down"),
        "deferred": t.gettext("deferred by quiet hours"),
        "quiet": t.gettext("deferred by quiet hours"),
        "pending": t.gettext("sending"),
        "suggested": t.gettext("suggested to the agent"),
        "sent": t.gettext("sent"),
        "failed": t.gettext("sending failed"),
        "missed": t.gettext("missed"),
        "dropped": t.gettext("dropped in quiet hours"),
        "cancelled": t.gettext("cancelled"),
        "stale": t.gettext("the message came late: no follow-up"),
        "came_back": t.gettext("the customer came back"),
    }


# The zones a Chinese shop runs on, by the name its staff say (北京时间); every other zone keeps its IANA id.
_ZONE_NAMES = {
    "Asia/Shanghai": N_("Beijing time"),
    "Asia/Chongqing": N_("Beijing time"),
    "Asia/Harbin": N_("Beijing time"),
    "Asia/Hong_Kong": N_("Hong Kong time"),
    "Asia/Macau": N_("Macau time"),
    "Asia/Taipei": N_("Taipei time"),
}


def zone_name(zone: str, language: str) -> str:
    """A time zone as a page names it: 北京时间 for Asia/Shanghai in zh_CN; the IANA id in en and for other zones."""
    named = _ZONE_NAMES.get(zone)
    return translator(language).gettext(named) if named and language != "en" else zone


def label(language: str, ident: str, chinese: str | None) -> str:
    """The name of an intent or customer type: the library's Chinese label, or the id made readable in en."""
    if language == "zh_CN" and chinese:
        return chinese
    return ident.replace("_", " ")


def label_of(ident: str, chinese: str | None) -> str:
    """`label` in the command line's language."""
    return label(_current, ident, chinese)


# What the system says of a file or a port, in the interface's language (the rest as the system says it).
_OS_REASONS = {
    errno.ENOENT: N_("no such file or directory"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("permission denied"),
    errno.EISDIR: N_("is a directory"),
    errno.ENOTDIR: N_("not a directory"),
    errno.EEXIST: N_("already exists"),
    errno.ENOSPC: N_("no space left on the disk"),
    errno.EROFS: N_("read-only file system"),
    errno.EADDRINUSE: N_("the address is already in use (another service on that port?)"),
    errno.EADDRNOTAVAIL: N_("the address is not on this machine"),
    errno.EBADF: N_("descriptor 3 is not open (LISTEN_FDS names a socket that was not passed)"),
    errno.ENOTSOCK: N_("descriptor 3 is not a listening TCP or Unix stream socket"),
}


# What SQLite says of a database it cannot use, likewise.
_DATABASE_REASONS = {
    "attempt to write a readonly database": N_("the database is read-only"),
    "database or disk is full": N_("the database or the disk is full"),
    "unable to open database file": N_("the database file cannot be opened"),
    "database is locked": N_("another process holds the database's lock"),
    "file is not a database": N_("the file is not a database"),
    "database disk image is malformed": N_("the database file is damaged"),
    "disk I/O error": N_("a disk read or write failed"),
}


def database_reason(exc: BaseException) -> str:
    """Why the database cannot be used, in the command line's language (the rest as SQLite says it)."""
    text = str(exc)
    return _(_DATABASE_REASONS[text]) if text in _DATABASE_REASONS else text


def os_reason(exc: OSError) -> str:
    """Why a file or port could not be used, without the file's name, in the command line's language."""
    return _(_OS_REASONS[exc.errno]) if exc.errno in _OS_REASONS else (exc.strerror or str(exc))
