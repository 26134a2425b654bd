"""Click's own words (usage errors, `--help` headings), and the help of our commands and options, in the
command line's language.

Click writes them through `gettext.gettext` and `gettext.ngettext`, imported into each of its modules; the
zh_CN translations are in `assistant/locale/zh_CN/LC_MESSAGES/click.po` (domain `click`, extracted from the
installed Click by `make messages`; tests/test_i18n.py checks it covers every message Click has). `install`
points those module names at the catalog of the language in use, read at each call.

Some of what `--help` shows Click never passes through gettext: the placeholders of the usage line and of each
option's value (`[OPTIONS]`, `COMMAND [ARGS]...`, `PATH`, `TEXT`, an argument's name) and the colon after a
heading. `translate_commands` gives each command and parameter those placeholders from our own catalog.
"""

from __future__ import annotations

import importlib
import io
import re
import sys
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import click

from assistant import i18n
from assistant.config.tomlfile import load_toml
from assistant.i18n import N_, _

DOMAIN = "click"
MODULES = (
    "click.core", "click.decorators", "click.exceptions", "click.formatting", "click.parser",
    "click.shell_completion", "click.termui", "click.types", "click.utils", "click._termui_impl",
)  # fmt: skip


# Words Click shows without marking them for translation (`extra["required"] = "required"`), so its catalog,
# extracted from Click's source, never has them: translated from ours.
_UNMARKED = frozenset({N_("required")})

# The placeholders Click writes as they are: its usage line's, its types' names (upper-cased) and our arguments'
# names. A placeholder not listed here stays as Click writes it (tests/test_i18n.py checks every command's --help).
PLACEHOLDERS = {
    "[OPTIONS]": N_("[OPTIONS]"),
    "COMMAND [ARGS]...": N_("COMMAND [ARGS]..."),
    "TEXT": N_("TEXT"),
    "PATH": N_("PATH"),
    "FILENAME": N_("FILENAME"),
    "INTEGER": N_("INTEGER"),
    "INTEGER RANGE": N_("INTEGER RANGE"),
    "FLOAT": N_("FLOAT"),
    "FLOAT RANGE": N_("FLOAT RANGE"),
    "BOOLEAN": N_("BOOLEAN"),
    "DATETIME": N_("DATETIME"),
    "UUID": N_("UUID"),
    "FILE": N_("FILE"),
    "FILES": N_("FILES"),
    "ITEM_ID": N_("ITEM_ID"),
    "TIME": N_("TIME"),
}
_WORD = re.compile(r"[A-Z][A-Z_]*(?: RANGE)?")


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


def show(error: click.ClickException) -> None:
    """Click's message for a usage error on stderr, its punctuation Chinese in a Chinese interface: Click writes an
    ASCII full stop after a translated message itself (`缺少参数 '商品ID'.`), and a space after the translated one
    before its guess (`没有选项 '--bogus'。 （您是不是要写…`)."""
    if i18n.current() == "en":
        error.show()
        return
    said = io.StringIO()
    error.show(file=said)
    sys.stderr.write(punctuate(said.getvalue()))


# A full stop Click adds after a Chinese message or a quoted name (not one inside a file name, a number or `...`),
# and the space it leaves after a Chinese sentence before the next.
_FULL_STOP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef'\"”）)])\.(?= |$)", re.MULTILINE)
_SPACE_AFTER = re.compile(r"(?<=[。！？]) +(?=\S)")


def punctuate(text: str) -> str:
    """Click's own English punctuation in a Chinese message made Chinese."""
    return _SPACE_AFTER.sub("", _FULL_STOP.sub("。", text))


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


class HelpFormatter(click.HelpFormatter):
    """Click's formatter, with the colon after a heading (选项：) in the language in use, and text measured as a
    terminal shows it: a Chinese character takes two columns (Click counts one, and the descriptions of
    `--config 路径` and `-h, --help` stood at different columns), and a line may break between two Chinese
    characters (Click breaks only at spaces: a long Chinese line ran past the terminal's edge, 141 columns wide)."""

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(wrap(text, self.width - self.current_indent, indent))
        self.write("\n")

    def write_heading(self, heading: str) -> None:
        said = _("%(heading)s:", heading=heading)
        self.write(f"{'':>{self.current_indent}}{said}\n")

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        first_col = min(max((columns(first) for first, _second in rows), default=0), col_max) + col_spacing
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if columns(first) <= first_col - col_spacing:
                self.write(" " * (first_col - columns(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = wrap(second, max(self.width - first_col - 2, 10)).splitlines() or [""]
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")


def columns(text: str) -> int:
    """How many terminal columns `text` takes: two for a wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# A line does not start with a closing mark nor end with an opening one (Chinese typesetting's 避头尾).
_NO_START = frozenset("，。、；：！？）」』》】〉”’,.;:!?)]}%")
_NO_END = frozenset("（「『《【〈“‘([{")
_TOKENS = re.compile(r"\s+|[^\s\u1100-\uffff]+|.")


def wrap(text: str, width: int, indent: str = "") -> str:
    """`text` in lines of at most `width` columns (`indent` included), each paragraph (blank-line separated) on its
    own: broken at a space, or between two characters of which one is wide (Chinese), never before a closing
    mark or after an opening one; a word longer than a line stays whole."""
    paragraphs = [" ".join(line.strip() for line in block.splitlines()) for block in re.split(r"\n\s*\n", text)]
    return "\n\n".join(_wrap_paragraph(p, width, indent) for p in paragraphs if p.strip())


def _wrap_paragraph(text: str, width: int, indent: str) -> str:
    lines: list[str] = []
    line: list[str] = []  # the tokens of the line being filled
    breaks: list[int] = []  # where in `line` it may be broken
    for token in _TOKENS.findall(text.strip()):
        if token.isspace() and not line:
            continue
        if line and _may_break(line[-1], token):
            breaks.append(len(line))
        line.append(token)
        if columns(indent + "".join(line).rstrip()) > width and breaks:
            at = breaks[-1]  # the last place it may break: a closing mark goes down with the word before it
            lines.append(indent + "".join(line[:at]).rstrip())
            line = line[at:]
            while line and line[0].isspace():
                line.pop(0)
            breaks = [i for i in range(1, len(line)) if _may_break(line[i - 1], line[i])]
    lines.append(indent + "".join(line).rstrip())
    return "\n".join(lines)


def _may_break(before: str, token: str) -> bool:
    """Whether a line may end with `before` and the next start with `token`."""
    if before.isspace():
        return True
    if token[0] in _NO_START or before[-1] in _NO_END:
        return False
    return columns(before[-1]) == 2 or columns(token[0]) == 2


class Context(click.Context):
    formatter_class = HelpFormatter


_SOURCES: dict[tuple[int, str], object] = {}  # the English help (and placeholders) of each command and option


def translate_commands(command: click.Command, language: str) -> None:
    """Every help text under `command` (marked with `N_` where it is written), and every placeholder Click shows
    (`PLACEHOLDERS`), in `language`; the English source is kept, so that a later call in another language
    translates it again."""
    t = i18n.translator(language)
    for each in _walk(command):
        each.context_class = Context
        for owner in (each, *each.params):
            for attr in ("help", "short_help"):
                if not hasattr(owner, attr):
                    continue
                source = _SOURCES.setdefault((id(owner), attr), getattr(owner, attr))
                if isinstance(source, str) and source:
                    setattr(owner, attr, t.gettext(source))
        _translate_placeholders(each, t)


def _translate_placeholders(command: click.Command, t: i18n.Translator) -> None:
    """The usage line's placeholders, and each parameter's, as Click would write them, in `t`'s language."""
    options = _SOURCES.setdefault((id(command), "options_metavar"), command.options_metavar)
    if isinstance(options, str):
        command.options_metavar = _placeholder(options, t)
    if isinstance(command, click.Group):
        sub = _SOURCES.setdefault((id(command), "subcommand_metavar"), command.subcommand_metavar)
        if isinstance(sub, str):
            command.subcommand_metavar = _placeholder(sub, t)
    ctx = click.Context(command)
    for param in command.params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue  # shows no value
        source = _SOURCES.setdefault((id(param), "metavar"), param.metavar)
        param.metavar = None if source is None else str(source)
        # As Click writes it (brackets, "..."), then word by word in the language in use.
        param.metavar = _placeholder(param.make_metavar(ctx), t)


def _placeholder(text: str, t: i18n.Translator) -> str:
    if text in PLACEHOLDERS:
        return t.gettext(PLACEHOLDERS[text])
    return _WORD.sub(lambda m: t.gettext(PLACEHOLDERS[m[0]]) if m[0] in PLACEHOLDERS else m[0], text)


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)
