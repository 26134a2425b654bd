"""Subcommands for the phrase library and suggestions: `phrases check|import|export`, `suggest`, `eval`."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the library pulls in the segmenter (~0.1 s): loaded only by the commands that use it
    from assistant.suggest.phrases import Library, LibraryError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `phrases`, `suggest` and `eval` to the main parser."""
    phrases = subparsers.add_parser("phrases", help="check, import or export the quick-phrase library")
    actions = phrases.add_subparsers(dest="phrases_command", required=True, metavar="ACTION")

    check = actions.add_parser("check", help="validate the library; exit 1 on any problem")
    _common(check)
    check.set_defaults(func=cmd_check)

    imp = actions.add_parser("import", help="read a Qianniu-style .csv/.xlsx (分组/快捷编码/快捷短语) into TOML")
    imp.add_argument("file", type=Path, help="the .csv or .xlsx to import")
    imp.add_argument("--out", type=Path, default=None, help="TOML file to write (default: print it)")
    _common(imp)
    imp.set_defaults(func=cmd_import)

    exp = actions.add_parser("export", help="write the library as a Qianniu-style table")
    exp.add_argument("--out", type=Path, default=None, help=".csv or .xlsx to write (default: CSV on stdout)")
    exp.add_argument("--raw", action="store_true", help="keep template variables instead of rendering them")
    _common(exp)
    exp.set_defaults(func=cmd_export)

    suggest = subparsers.add_parser("suggest", help="show the suggestions for one customer message")
    suggest.add_argument("text", help="the customer's message")
    suggest.add_argument("--json", action="store_true", help="print the JSON the HTTP API returns")
    suggest.add_argument("--k", type=int, default=None, help="how many suggestions (default: [phrases] top_k)")
    _common(suggest)
    suggest.set_defaults(func=cmd_suggest)

    ev = subparsers.add_parser("eval", help="measure intent and customer-type accuracy on the labeled sets")
    ev.add_argument("--intents", type=Path, default=Path("tests/data/intents.tsv"), help="intent<TAB>text file")
    ev.add_argument("--types", type=Path, default=Path("tests/data/types.tsv"), help="type<TAB>msg1 | msg2 file")
    ev.add_argument("--misses", action="store_true", help="also list every miss")
    _common(ev)
    ev.set_defaults(func=cmd_eval)


def _common(parser: argparse.ArgumentParser) -> None:
    try:
        from assistant.cli import add_common
    except ImportError:  # the main CLI is optional for these commands
        parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file")
        parser.add_argument("--db", type=Path, default=None, help="SQLite file (accepted for uniformity)")
    else:
        add_common(parser)
    parser.add_argument("--phrases", type=Path, default=None, help="phrase directory (overrides [phrases] path)")


def _settings(args: argparse.Namespace) -> tuple[Path, dict[str, str], int]:
    """Phrase directory, template variables and top-k from the config (defaults when there is none)."""
    directory, variables, top_k = Path("phrases"), {}, 3
    try:
        from assistant.cli import config_from_args
    except ImportError:
        config = None
    else:
        config = config_from_args(args)
    if config is not None:
        directory = config.resolve(config.phrases.path)
        variables = {"shop": config.shop.name, **config.phrases.variables}
        top_k = config.phrases.top_k
    if args.phrases is not None:
        directory = args.phrases
    return directory, variables, top_k


def _load(args: argparse.Namespace) -> tuple[Library, int] | None:
    from assistant.suggest.phrases import Library, LibraryError

    directory, variables, top_k = _settings(args)
    try:
        return Library.load(directory, variables), top_k
    except LibraryError as exc:
        _print_problems(exc)
        return None


def _print_problems(exc: LibraryError) -> None:
    for problem in exc.problems:
        print(f"{problem.file}\t{problem.phrase_id or '-'}\t{problem.reason}", file=sys.stderr)
    print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the library: one line per problem (file, phrase id, reason), exit 1 if any."""
    loaded = _load(args)
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


def cmd_import(args: argparse.Namespace) -> int:
    """Convert a Qianniu table to a phrase file and report the rows not taken."""
    from assistant.suggest.matcher import Matcher
    from assistant.suggest.qianniu import TableError, import_rows, read_table, to_toml

    loaded = _load(args)
    if loaded is None:
        return 1
    library, _ = loaded
    try:
        result = import_rows(read_table(args.file), Matcher(library))
    except (TableError, OSError) as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    text = to_toml(result, args.file.name)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    for skipped in result.skipped:
        print(f"row {skipped.row}: not imported: {skipped.reason}", file=sys.stderr)
    where = f" into {args.out}" if args.out else ""
    print(f"imported {len(result.phrases)} phrase(s){where}, skipped {len(result.skipped)} row(s)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write 分组/快捷编码/快捷短语 rows to a .csv/.xlsx file, or CSV to stdout."""
    import csv

    from assistant.suggest.qianniu import TableError, export_rows, write_table

    loaded = _load(args)
    if loaded is None:
        return 1
    rows = export_rows(loaded[0], raw=args.raw)
    if args.out is None:
        csv.writer(sys.stdout).writerows(rows)
        return 0
    try:
        write_table(rows, args.out)
    except (TableError, OSError) as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    print(f"exported {len(rows) - 1} phrase(s) to {args.out}", file=sys.stderr)
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """Print the suggestions and customer type for one message, as a table or as the API's JSON."""
    from assistant.suggest.matcher import Matcher, customer_type_json, suggestion_json

    loaded = _load(args)
    if loaded is None:
        return 1
    library, top_k = loaded
    matcher = Matcher(library, k=args.k if args.k is not None else top_k)
    suggestions = matcher.suggest(args.text)
    kind = matcher.classify([(0, args.text)])
    if args.json:
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
    print(f"\ncustomer type: {kind.label} ({kind.type}, {kind.confidence:.2f}); evidence: {evidence}")
    for line in kind.script[:2]:
        print(f"  · {line}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print top-1/top-3 intent accuracy, type accuracy and the per-intent confusion summary."""
    from assistant.suggest.evaluation import evaluate
    from assistant.suggest.matcher import Matcher

    loaded = _load(args)
    if loaded is None:
        return 1
    missing = [str(p) for p in (args.intents, args.types) if not p.exists()]
    if len(missing) == 2:
        print(f"assistant: no labeled set found ({', '.join(missing)})", file=sys.stderr)
        return 1
    report = evaluate(Matcher(loaded[0]), args.intents, args.types)
    print(report.format(misses=args.misses))
    return 0


def format_table(rows: list[list[str]], max_width: int = 60) -> str:
    """A plain table whose columns line up for CJK text (wide characters count double)."""
    cells = [[_clip(c, max_width) for c in row] for row in rows]
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

