"""`assistant phrases import|export`: Qianniu quick-phrase tables (分组 / 快捷编码 / 快捷短语) to and from the library."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.common import common_options, load, os_problem, replace_file
from assistant.cli.suggest import _load, phrases, phrases_option
from assistant.config.tomlfile import load_toml
from assistant.i18n import N_, _, ngettext
from assistant.safetext import terminal

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.suggest.phrases import Library
    from assistant.suggest.qianniu import ImportResult


def _file_key(config: Config, out: Path) -> tuple[str | None, bool]:
    """How the library names phrases loaded from `out` (None: not one of its files), and whether `out` is in a
    shop's layer (a directory after the first of `[phrases] path`, or one of `[phrases.shops]`)."""
    dirs = [d.resolve() for d in config.phrase_dirs()]
    parent = out.resolve().parent
    if _shop_of(config, out) is not None:
        return f"{parent.name}/{out.name}", True
    if parent not in dirs:
        return None, False
    n = dirs.index(parent)
    return (out.name if n == 0 else f"{parent.name}/{out.name}"), n > 0


def _shop_of(config: Config, out: Path) -> str | None:
    """The shop whose own layer (`[phrases.shops]`) `out` is written into, if any."""
    parent = out.resolve().parent
    return next((shop for shop, dirs in config.shop_phrase_dirs().items() if parent in [d.resolve() for d in dirs]), None)  # fmt: skip


def _codes(library: Library, config: Config, out: Path | None, replace: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Codes the import must not take, and codes it may take over from the demo library (it writes a layer).

    Into a shop's own layer: only that shop's own codes are taken, and every shared phrase may be replaced
    there (other shops' codes are theirs: two shops may both have `jsy`)."""
    key, in_layer = _file_key(config, out) if out is not None else (None, False)
    shop = _shop_of(config, out) if out is not None else None
    taken: dict[str, str] = {}
    replaceable: dict[str, str] = {}
    for p in library.phrases if shop is None else [*library.phrases, *library.shop_phrases.get(shop, ())]:
        if replace and key is not None and p.file == key and p.shop == (shop or ""):
            continue  # the previous import of this file: replaced as a whole
        base = "/" not in p.file if shop is None else not p.shop  # the demo's files; a shop's: every shared one
        (replaceable if in_layer and base else taken)[p.code.lower()] = p.id
    return taken, replaceable


def _report(result: ImportResult, library: Library) -> None:
    """Each row's decision on stderr: the intent and what decided it, or why the row was left out; and notes."""
    lines: list[tuple[int, str]] = []
    for p in result.phrases:
        label = library.intents[p.intent].label if p.intent in library.intents else p.intent
        how = _("group") if p.source == "group" else _("text, %(score)s", score=f"{p.confidence:.2f}")
        line = _("row %(row)s: %(code)s → %(intent)s (%(label)s, from the %(how)s)", row=p.row, code=p.code, intent=p.intent, label=label, how=how)  # fmt: skip
        if p.replaces:
            line += " · " + _("replaces the demo phrase %(id)s", id=p.replaces)
            replaced = library.by_id.get(p.replaces)
            if replaced is not None and replaced.intent != p.intent:  # that intent's pool shrinks: say so
                other = library.intents[replaced.intent].label if replaced.intent in library.intents else ""
                line += _(" (a %(label)s phrase: %(intent)s has one phrase fewer)", label=other, intent=replaced.intent)
        lines.append((p.row, line))
    for s in result.skipped:
        lines.append((s.row, _("row %(row)s: not imported: %(reason)s", row=s.row, reason=s.reason)))
    for note in result.notes:
        lines.append((note.row, _("row %(row)s: note: %(note)s", row=note.row, note=note.message)))
    for _row, line in sorted(lines):
        print(terminal(line, single_line=True), file=sys.stderr)


def _progress(done: int, total: int) -> None:
    """A long import's progress on stderr, every thousand rows (a team's 20,000 rows take a minute or more)."""
    print(_("read %(done)s of %(total)s rows…", done=done, total=total), file=sys.stderr, flush=True)


def _templated(text: str) -> bool:
    """Whether a phrase is a template written by hand ({{ shop }}, {% if %}), not a Qianniu text kept as written."""
    from assistant.suggest.qianniu import RAW_OPEN

    return not text.startswith(RAW_OPEN) and any(mark in text for mark in ("{{", "{%"))


def _where(config: Config, out: Path) -> None:
    """Warn when `out` is not in a shop's layer: outside `[phrases] path` it is never suggested, and the first
    directory is the shipped library's, which an update of the product replaces."""
    key, in_layer = _file_key(config, out)
    if key is None:
        print(_("note: %(out)s is in no directory of [phrases] path: its phrases are not suggested until it is moved into a layer", out=out), file=sys.stderr)  # fmt: skip
    elif not in_layer:
        print(_("note: %(out)s is in the first directory of [phrases] path, the shipped library's: an update may replace it; a layer is the place for a shop's phrases", out=out), file=sys.stderr)  # fmt: skip


@phrases.command(
    "import",
    short_help=N_("a Qianniu table into a phrase file"),
    help=N_("read a Qianniu .csv/.xlsx (分组/快捷编码/快捷短语) into a phrase file; each row's intent from its text"),
)
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help=N_("TOML file to write, e.g. in a shop's layer of [phrases] path (default: print it)"),
)
@click.option("--replace", is_flag=True, help=N_("update a previous import: OUT is rewritten from this file"))
@click.option("--dry-run", is_flag=True, help=N_("show each row's decision, write nothing"))
@common_options
@phrases_option
def cmd_import(
    file: Path,
    out: Path | None,
    replace: bool,
    dry_run: bool,
    config_path: Path,
    db: Path | None,
    phrases_dir: Path | None,
) -> int:
    """Convert a Qianniu table; exit 1 when a row is not imported (each listed with its reason)."""
    from assistant.suggest.matcher import Matcher
    from assistant.suggest.qianniu import TableError, import_rows, keep_edits, read_table, to_toml

    config = load(config_path, db)
    loaded = _load(config_path, db, phrases_dir, without=[out] if replace and out is not None else [])
    if loaded is None:
        return 1
    library, _k = loaded
    if out is not None and out.suffix.lower() != ".toml":
        print(_("assistant: %(out)s: the phrase library reads only .toml files", out=out), file=sys.stderr)
        return 1
    # Refused with --dry-run too: it read that file's codes as taken and showed every row of the new export as
    # refused for a code "taken" by the very phrase it would update, where the import itself stops at this line.
    if out is not None and out.exists() and not replace:
        print(_("assistant: %(out)s exists: --replace updates a previous import", out=out), file=sys.stderr)
        return 1
    taken, replaceable = _codes(library, config, out, replace)
    try:
        rows = read_table(file)
        result = import_rows(rows, Matcher(library), taken=taken, replaceable=replaceable, progress=_progress)
    except TableError as exc:
        print(_("assistant: %(error)s", error=exc), file=sys.stderr)
        return 1
    except OSError as exc:  # a mistyped path: the file and the reason in the interface's language, no errno
        print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
        return 1
    if replace and out is not None and out.is_file():
        try:
            result = keep_edits(result, load_toml(out))
        except (tomllib.TOMLDecodeError, OSError) as exc:  # the file being repaired: rewritten, nothing kept of it
            reason = os_problem(exc) if isinstance(exc, OSError) else str(exc)
            print(_("note: %(out)s cannot be read (%(error)s): it is rewritten from the table, and nothing made of its phrases is kept", out=out, error=reason), file=sys.stderr)  # fmt: skip
    _report(result, library)
    summary = ngettext(
        "%(num)d phrase imported, %(skipped)s row not imported",
        "%(num)d phrases imported, %(skipped)s rows not imported",
        len(result.phrases),
        skipped=len(result.skipped),
    )
    if result.notes:
        summary += ngettext("; %(num)d note on a row (above)", "; %(num)d notes on rows (above)", len(result.notes))
    if dry_run:
        print(_("dry run: %(summary)s; nothing written", summary=summary), file=sys.stderr)
    else:
        text = to_toml(result, file.name)
        if out is None:
            sys.stdout.write(text)
        else:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                replace_file(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
            except OSError as exc:
                print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
                return 1
        print(f"{summary}" + (" → " + str(out) if out else ""), file=sys.stderr)
    if out is not None:
        _where(config, out)
    return 1 if result.skipped else 0


@phrases.command("export", help=N_("write the library (or one of its files) as a Qianniu-style table"))
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help=N_(".csv or .xlsx to write (default: CSV on stdout)")
)
@click.option("--raw", is_flag=True, help=N_("keep template variables instead of rendering them"))
@click.option(
    "--file",
    "only",
    type=click.Path(path_type=Path),
    default=None,
    help=N_("only the phrases of this phrase file (e.g. a previous import); implies --raw"),
)
@common_options
@phrases_option
def cmd_export(
    out: Path | None, raw: bool, only: Path | None, config_path: Path, db: Path | None, phrases_dir: Path | None
) -> int:
    """Write 分组/快捷编码/快捷短语 rows to a .csv/.xlsx file, or CSV to stdout."""
    from assistant.safetext import CsvWriter
    from assistant.suggest.qianniu import TableError, export_rows, write_table

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library = loaded[0]
    if only is not None:
        config = load(config_path, db)
        key, _in_layer = _file_key(config, only)
        shop = (_shop_of(config, only) or "") if phrases_dir is None else ""  # a shop's own file: its phrases only
        own = library.shop_phrases.get(shop, ()) if shop else library.phrases
        if key is None or not any(p.file == key for p in own):
            print(_("assistant: %(file)s is not a phrase file of the library", file=only), file=sys.stderr)
            return 1
        rows = export_rows(library, raw=True, file=key, shop=shop)
        templated = [p.code for p in own if p.file == key and _templated(p.text)]
    else:
        rows = export_rows(library, raw=raw)
        templated = [p.code for p in library.phrases if raw and _templated(p.text)]
    if templated:  # Qianniu sends a phrase as it is: the buyer would read "{{ shop }}"
        print(ngettext("note: %(num)d phrase keeps its template as written (%(codes)s): Qianniu would send it so to buyers; fill it in before uploading the table (an export without --file and --raw fills in the shared library's)", "note: %(num)d phrases keep their templates as written (%(codes)s): Qianniu would send them so to buyers; fill them in before uploading the table (an export without --file and --raw fills in the shared library's)", len(templated), codes="、".join(templated[:5]) + ("…" if len(templated) > 5 else "")), file=sys.stderr)  # fmt: skip
    if out is None:
        CsvWriter(sys.stdout, lineterminator="\r\n").writerows(rows)
        return 0
    try:
        replace_file(out, lambda tmp: write_table(rows, tmp))
    except TableError as exc:
        print(_("assistant: %(error)s", error=exc), file=sys.stderr)
        return 1
    except OSError as exc:  # a mistyped path: the file and the reason in the interface's language, no errno
        print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
        return 1
    print(ngettext("exported %(num)d phrase to %(out)s", "exported %(num)d phrases to %(out)s", len(rows) - 1, out=out), file=sys.stderr)  # fmt: skip
    return 0
