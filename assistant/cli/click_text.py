"""Click's own words (usage errors, `--help` headings), and the help of our commands and options, in the
command line's language.

Click writes them through `gettext.gettext` and `gettext.ngettext`, imported into each of its modules; the
zh_CN translations are in `assistant/locale/zh_CN/LC_MESSAGES/click.po` (domain `click`, extracted from the
installed Click by `make messages`; tests/test_i18n.py checks it covers every message Click has). `install`
points those module names at the catalog of the language in use, read at each call.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from assistant import i18n
from assistant.config.tomlfile import load_toml
from assistant.i18n import N_

DOMAIN = "click"
MODULES = (
    "click.core", "click.decorators", "click.exceptions", "click.formatting", "click.parser",
    "click.shell_completion", "click.termui", "click.types", "click.utils", "click._termui_impl",
)  # fmt: skip


# Words Click shows without marking them for translation (`extra["required"] = "required"`), so its catalog,
# extracted from Click's source, never has them: translated from ours.
_UNMARKED = frozenset({N_("required")})


def gettext(message: str) -> str:
    if message in _UNMARKED:
        return i18n._(message)
    return i18n.translations(i18n.current(), DOMAIN).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(i18n.current(), DOMAIN).ngettext(singular, plural, n)


def install() -> None:
    """Click's modules translate through the catalog from now on."""
    for name in MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]


def config_path(argv: Sequence[str]) -> Path:
    """The config file the arguments name (`--config PATH`, `--config=PATH`), else ./config.toml."""
    path = Path("config.toml")
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            path = Path(argv[i + 1])
        elif arg.startswith("--config="):
            path = Path(arg.partition("=")[2])
    return path


def configured_language(argv: Sequence[str]) -> str:
    """`[ui] language` of the config the arguments name (`--config`, else ./config.toml), read before Click
    parses them, so that a usage error is in the language the command would have spoken; the default when
    the file is missing or unreadable (the command itself then says what is wrong with it)."""
    try:
        language = load_toml(config_path(argv)).get("ui", {}).get("language", i18n.DEFAULT_LANGUAGE)
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return i18n.DEFAULT_LANGUAGE
    return language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


_SOURCES: dict[tuple[int, str], str | None] = {}  # the English help of each command and option, by object


def translate_commands(command: click.Command, language: str) -> None:
    """Every help text under `command` (marked with `N_` where it is written) in `language`; the English
    source is kept, so that a later call in another language translates it again."""
    t = i18n.translator(language)
    for each in _walk(command):
        for owner in (each, *each.params):
            for attr in ("help", "short_help"):
                if not hasattr(owner, attr):
                    continue
                source = _SOURCES.setdefault((id(owner), attr), getattr(owner, attr))
                if source:
                    setattr(owner, attr, t.gettext(source))


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)
