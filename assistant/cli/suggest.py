"""Subcommands for the phrase library and suggestions: `phrases check|import|export`, `suggest`, `eval`."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.common import common_options, load
from assistant.safetext import terminal

if TYPE_CHECKING:  # the library pulls in the segmenter (~0.1 s): loaded only by the commands that use it
    from assistant.suggest.phrases import Library, LibraryError


def phrases_option(func):  # type: ignore[no-untyped-def]
    """`--phrases DIR`: another phrase directory than [phrases] path."""
    return click.option(
        "--phrases",
        "phrases_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="phrase directory (overrides [phrases] path)",
    )(func)


@click.group("phrases", help="check, import or export the quick-phrase library")
def phrases() -> None:
    pass


def _settings(config_path: Path, db: Path | None, phrases_dir: Path | None) -> tuple[Path, dict[str, str], int]:
    """Phrase directory, template variables and top-k from the config."""
    config = load(config_path, db)
    directory = config.resolve(config.phrases.path)
    variables = {"shop": config.shop.name, **config.phrases.variables}
    if phrases_dir is not None:
        directory = phrases_dir
    return directory, variables, config.phrases.top_k


def _load(config_path: Path, db: Path | None, phrases_dir: Path | None) -> tuple[Library, int] | None:
    from assistant.suggest.phrases import Library, LibraryError

    directory, variables, top_k = _settings(config_path, db, phrases_dir)
    try:
        return Library.load(directory, variables), top_k
    except LibraryError as exc:
        _print_problems(exc)
        return None


def _print_problems(exc: LibraryError) -> None:
    for problem in exc.problems:
        line = f"{problem.file}\t{problem.phrase_id or '-'}\t{problem.reason}"
        print(terminal(line), file=sys.stderr)
    print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)


@phrases.command("check", help="validate the library; exit 1 on any problem")
@common_options
@phrases_option
def cmd_check(config_path: Path, db: Path | None, phrases_dir: Path | None) -> int:
    """Validate the library: one line per problem (file, phrase id, reason), exit 1 if any."""
    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library, _ = loaded
    by_intent: dict[str, int] = {}
    for p in library.phrases:
        by_intent[p.intent] = by_intent.get(p.intent, 0) + 1
    print(f"ok: {len(library.phrases)} phrases, {len(by_intent)} intents, {len(library.customer_types)} customer types")
    rows = [["intent", "label", "phrases"]]
    rows += [[i, spec.label, str(by_intent.get(i, 0))] for i, spec in library.intents.items()]
    print(format_table(rows))
    return 0


@phrases.command("import", help="read a Qianniu-style .csv/.xlsx (分组/快捷编码/快捷短语) into TOML")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="TOML file to write (default: print it)")
@common_options
@phrases_option
def cmd_import(file: Path, out: Path | None, config_path: Path, db: Path | None, phrases_dir: Path | None) -> int:
    """Convert a Qianniu table to a phrase file and report the rows not taken."""
    from assistant.suggest.matcher import Matcher
    from assistant.suggest.qianniu import TableError, import_rows, read_table, to_toml

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library, _ = loaded
    try:
        result = import_rows(read_table(file), Matcher(library))
    except (TableError, OSError) as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    text = to_toml(result, file.name)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    for skipped in result.skipped:
        print(terminal(f"row {skipped.row}: not imported: {skipped.reason}", single_line=True), file=sys.stderr)
    where = f" into {out}" if out else ""
    print(f"imported {len(result.phrases)} phrase(s){where}, skipped {len(result.skipped)} row(s)", file=sys.stderr)
    return 0


@phrases.command("export", help="write the library as a Qianniu-style table")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help=".csv or .xlsx to write (default: CSV on stdout)"
)
@click.option("--raw", is_flag=True, help="keep template variables instead of rendering them")
@common_options
@phrases_option
def cmd_export(out: Path | None, raw: bool, config_path: Path, db: Path | None, phrases_dir: Path | None) -> int:
    """Write 分组/快捷编码/快捷短语 rows to a .csv/.xlsx file, or CSV to stdout."""
    from assistant.safetext import CsvWriter
    from assistant.suggest.qianniu import TableError, export_rows, write_table

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    rows = export_rows(loaded[0], raw=raw)
    if out is None:
        CsvWriter(sys.stdout, lineterminator="\r\n").writerows(rows)
        return 0
    try:
        write_table(rows, out)
    except (TableError, OSError) as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    print(f"exported {len(rows) - 1} phrase(s) to {out}", file=sys.stderr)
    return 0


@click.command("suggest", help="show the suggestions for one customer message")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="print the JSON the HTTP API returns")
@click.option("--k", type=int, default=None, help="how many suggestions (default: [phrases] top_k)")
@common_options
@phrases_option
def suggest_command(
    text: str, as_json: bool, k: int | None, config_path: Path, db: Path | None, phrases_dir: Path | None
) -> int:
    """Print the suggestions and customer type for one message, as a table or as the API's JSON."""
    from assistant.suggest.matcher import Matcher, customer_type_json, suggestion_json

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library, top_k = loaded
    matcher = Matcher(library, k=k if k is not None else top_k)
    suggestions = matcher.suggest(text)
    kind = matcher.classify([(0, text)])
    if as_json:
        body = {"suggestions": [suggestion_json(s) for s in suggestions], "customer_type": customer_type_json(kind)}
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    if not suggestions:
        print("(no suggestion above the threshold)")
    else:
        rows = [["#", "score", "intent", "code", "trigger", "text"]]
        rows += [[str(n), f"{s.score:.1f}", s.intent, s.code, s.trigger, s.text] for n, s in enumerate(suggestions, 1)]
        print(format_table(rows))
    evidence = "、".join(kind.evidence) or "-"
    print(terminal(f"\ncustomer type: {kind.label} ({kind.type}, {kind.confidence:.2f}); evidence: {evidence}"))
    for line in kind.script[:2]:
        print(terminal(f"  · {line}", single_line=True))
    return 0


@click.command("eval", help="measure intent and customer-type accuracy on the labeled sets")
@click.option(
    "--intents",
    type=click.Path(path_type=Path),
    default=Path("tests/data/intents.tsv"),
    show_default=True,
    help="intent<TAB>text file",
)
@click.option(
    "--types",
    type=click.Path(path_type=Path),
    default=Path("tests/data/types.tsv"),
    show_default=True,
    help="type<TAB>msg1 | msg2 file",
)
@click.option("--misses", is_flag=True, help="also list every miss")
@common_options
@phrases_option
def eval_command(
    intents: Path, types: Path, misses: bool, config_path: Path, db: Path | None, phrases_dir: Path | None
) -> int:
    """Print top-1/top-3 intent accuracy, type accuracy and the per-intent confusion summary."""
    from assistant.suggest.evaluation import evaluate
    from assistant.suggest.matcher import Matcher

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    missing = [str(p) for p in (intents, types) if not p.exists()]
    if len(missing) == 2:
        print(f"assistant: no labeled set found ({', '.join(missing)})", file=sys.stderr)
        return 1
    report = evaluate(Matcher(loaded[0]), intents, types)
    print(report.format(misses=misses))
    return 0


def format_table(rows: list[list[str]], max_width: int = 60) -> str:
    """A plain table whose columns line up for CJK text (wide characters count double)."""
    cells = [[_clip(terminal(c, single_line=True), max_width) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if _width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if _width(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"
