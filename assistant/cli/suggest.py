"""Subcommands for the phrase library and suggestions: `phrases check|import|export|train`, `suggest`, `eval`."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.common import common_options, load, os_problem
from assistant.config import Config, ConfigError
from assistant.i18n import N_, _, label_of, ngettext
from assistant.safetext import format_table, terminal

if TYPE_CHECKING:  # the library pulls in the segmenter (~0.1 s): loaded only by the commands that use it
    from assistant.suggest.phrases import Library, LibraryError


def phrases_option(func):  # type: ignore[no-untyped-def]
    """`--phrases DIR`: another phrase directory than [phrases] path."""
    return click.option(
        "--phrases",
        "phrases_dir",
        type=click.Path(path_type=Path),
        default=None,
        help=N_("phrase directory (overrides [phrases] path)"),
    )(func)


@click.group("phrases", help=N_("check, import or export the quick-phrase library"))
def phrases() -> None:
    pass


def _settings(
    config: Config, phrases_dir: Path | None
) -> tuple[list[Path], dict[str, str], int, bool, list[Path], dict[str, list[Path]]]:
    """Phrase directories (layers), template variables, top-k, whether the demo phrases count, the quality
    rule files among them (not phrase groups), and each shop's own layers."""
    variables = {"shop": config.shop.name, **config.phrases.variables}
    if phrases_dir is not None:
        rules = [phrases_dir / path for path in config.qa.rules]
        return [phrases_dir], variables, config.phrases.top_k, True, rules, {}
    dirs, shops = config.phrase_dirs(), config.shop_phrase_dirs()
    return dirs, variables, config.phrases.top_k, config.phrases.include_demo, config.qa_rule_files(), shops


def _load(
    config_path: Path,
    db: Path | None,
    phrases_dir: Path | None,
    without: Sequence[Path] = (),
    config: Config | None = None,
) -> tuple[Library, int] | None:
    """The library (and top-k), its problems printed when it has any; `without`: files left out (one about to be
    replaced: a broken one must not stop its own repair); `config`: the config already loaded."""
    from assistant.suggest.phrases import Library, LibraryError

    config = config if config is not None else load(config_path, db)
    directories, variables, top_k, include_demo, rules, shops = _settings(config, phrases_dir)
    try:
        skip = [*rules, *without]
        return Library.load(directories, variables, include_demo=include_demo, skip=skip, shops=shops), top_k
    except LibraryError as exc:
        print_problems(exc)
        return None


SUMMED_FROM = 20  # problems from which the list ends with the commonest kinds and the files that have them
_VALUES = re.compile(r"'[^']*'|\([^()]*\)|（[^（）]*）|\d+")  # what differs between two problems of a kind


def print_problems(exc: LibraryError) -> None:
    """Every problem, one line each (file:line, id, reason); after a long list (an import gone wrong holds
    thousands, and only the last screen stays in view) the commonest kinds of problem and the files with most."""
    for problem in exc.problems:
        line = f"{problem.place}\t{problem.phrase_id or '-'}\t{problem.reason}"
        print(terminal(line), file=sys.stderr)
    if len(exc.problems) >= SUMMED_FROM:
        kinds = Counter(_VALUES.sub("…", p.reason) for p in exc.problems)
        files = Counter(p.file for p in exc.problems)
        print(_("the commonest problems:"), file=sys.stderr)
        for kind, n in kinds.most_common(5):
            print(terminal(f"  {n:>6} × {kind}"), file=sys.stderr)
        print(_("the files with most problems:"), file=sys.stderr)
        for file, n in files.most_common(5):
            print(terminal(f"  {n:>6} × {file}"), file=sys.stderr)
    print(ngettext("%(num)d problem found", "%(num)d problems found", len(exc.problems)), file=sys.stderr)


@phrases.command("check", help=N_("validate the library; exit 1 on any problem"))
@common_options
@phrases_option
def cmd_check(config_path: Path, db: Path | None, phrases_dir: Path | None) -> int:
    """Validate the library: one line per problem (file, phrase id, reason), exit 1 if any."""
    config = load(config_path, db)
    loaded = _load(config_path, db, phrases_dir, config=config)
    rules_broken = phrases_dir is None and _companions_refused(config)  # --phrases: a directory, not the service's
    if loaded is None or rules_broken:
        return 1
    library = loaded[0]
    by_intent: dict[str, int] = {}
    for p in library.phrases:
        by_intent[p.intent] = by_intent.get(p.intent, 0) + 1
    print(_("ok: %(phrases)s phrases, %(intents)s intents, %(types)s customer types", phrases=len(library.phrases), intents=len(by_intent), types=len(library.customer_types)))  # fmt: skip
    print(_scorer_state(library))
    from assistant.suggest.training import scorer_problem

    if scorer_problem(library) is not None:
        return 1  # a scorer.npz that cannot be read is a broken file, as a broken phrase file is
    rows = [[_("intent"), _("label"), _("phrases")]]
    rows += [[i, spec.label, str(by_intent.get(i, 0))] for i, spec in library.intents.items()]
    print(format_table(rows))
    return 0


def _companions_refused(config: Config) -> bool:
    """The quality rule files of `[qa] rules`, checked as the start and a reload read them with the library, and
    the `[catalog]` answer templates, as the start compiles them (a broken one stopped the service while
    `phrases check` said all was fine); their problems printed."""
    from assistant.qa.inspector import load_inspector
    from assistant.qa.rules import RulesError
    from assistant.suggest.item_answers import compile_templates

    problems: list[str] = []
    if config.qa.enabled:
        try:
            load_inspector(config)
        except RulesError as exc:
            problems += exc.problems
        except ConfigError as exc:  # an alert category no rule file has
            problems.append(str(exc))
    try:
        compile_templates(config.catalog)
    except ConfigError as exc:
        problems.append(str(exc))
    if not problems:
        return False
    for problem in problems:
        print(terminal(problem), file=sys.stderr)
    print(ngettext("%(num)d problem found", "%(num)d problems found", len(problems)), file=sys.stderr)
    return True


def _scorer_state(library: Library) -> str:
    """One line on the library's trained scorer: missing, unreadable, stale or current."""
    from assistant.suggest.scorer import SCORER_FILE, Scorer, ScorerError, scorer_path
    from assistant.suggest.training import fingerprint

    path = scorer_path(library.directory, library.layers) or Path(SCORER_FILE)
    if not path.exists():
        return _(
            "scorer: no %(file)s; intents come from key words and triggers alone (run `assistant phrases train`)",
            file=SCORER_FILE,
        )
    try:
        scorer = Scorer.load(path)
    except ScorerError as exc:
        return _("scorer: %(reason)s", reason=exc)
    if scorer.fingerprint != fingerprint(library):
        return _(
            "scorer: %(file)s was trained on another version of the library: run `assistant phrases train`",
            file=SCORER_FILE,
        )
    return _("scorer: %(file)s fits this library (%(n)s examples)", file=SCORER_FILE, n=len(library.examples))


@click.command("suggest", help=N_("show the suggestions for one customer message"))
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help=N_("print the JSON the HTTP API returns"))
@click.option("--k", type=int, default=None, help=N_("how many suggestions (default: [phrases] top_k)"))
@click.option("--shop", default="", help=N_("the shop whose agents' choices rank the phrases (as /v1/suggest?shop=)"))
@click.option("--item", default=None, help=N_("the catalog item the message is about (as /v1/suggest?item=)"))
@common_options
@phrases_option
def suggest_command(
    text: str,
    as_json: bool,
    k: int | None,
    shop: str,
    item: str | None,
    config_path: Path,
    db: Path | None,
    phrases_dir: Path | None,
) -> int:
    """Print the suggestions and customer type for one message, as a table or as the API's JSON: the service's
    own engine answers, so the order is the one `GET /v1/suggest` gives for the text."""
    from assistant.conversations import Conversations
    from assistant.events import clean_name
    from assistant.suggest.engine import SuggestionEngine
    from assistant.suggest.matcher import Matcher

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library, top_k = loaded
    config = load(config_path, db)
    matcher = Matcher(library, k=k if k is not None else top_k, min_confidence=config.phrases.min_confidence)
    location = config.location()
    engine = SuggestionEngine(config, matcher, Conversations(location), location)
    try:
        suggestions, kind = engine.compute(text, shop=clean_name(shop), state=None, item=item or None)
    finally:
        engine.items.close()
    if as_json:
        print(json.dumps(engine.response(suggestions, kind), ensure_ascii=False, indent=2))
        return 0
    if not suggestions:
        print(_("(no suggestion above the threshold)"))
    else:
        rows = [["#", _("confidence"), _("intent"), _("code"), _("because of"), _("trigger"), _("text")]]
        rows += [
            [
                str(n),
                f"{s.confidence:.2f}",
                _intent(library, s.intent),
                s.code,
                "、".join(s.evidence) or "-",
                s.trigger,
                s.text,
            ]
            for n, s in enumerate(suggestions, 1)
        ]
        print(format_table(rows))
    evidence = "、".join(kind.evidence) or "-"
    label = kind.label if kind.sure else _("not sure (%(label)s by default)", label=kind.label)
    line = _("customer type: %(label)s (%(type)s, %(confidence)s); evidence: %(evidence)s", label=label, type=kind.type, confidence=f"{kind.confidence:.2f}", evidence=evidence)  # fmt: skip
    print(terminal("\n" + line))
    for line in kind.script[:2]:
        print(terminal(f"  · {line}", single_line=True))
    return 0


@click.command(
    "eval",
    short_help=N_("suggestion quality on labeled sets"),
    help=N_("measure suggestion quality on labeled sets (labels<TAB>text; a|b; none)"),
)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--intents",
    type=click.Path(path_type=Path),
    default=None,
    help=N_(
        "intent set measured when no FILE is given [default: tests/data/intents.tsv, unless only --types is given]"
    ),
)
@click.option(
    "--types",
    type=click.Path(path_type=Path),
    default=None,
    help=N_("type<TAB>msg1 | msg2 file [default without FILE: tests/data/types.tsv, unless only --intents is given]"),
)
@click.option(
    "--gap",
    type=click.FloatRange(min=0.0, max=86_400.0),
    default=30.0,
    show_default=True,
    help=N_("seconds between the messages of a labeled conversation (0: sent back to back)"),
)
@click.option("--misses", is_flag=True, help=N_("also list every miss"))
@common_options
@phrases_option
def eval_command(
    files: tuple[Path, ...],
    intents: Path | None,
    types: Path | None,
    gap: float,
    misses: bool,
    config_path: Path,
    db: Path | None,
    phrases_dir: Path | None,
) -> int:
    """Per labeled set: top-1/top-3, none answered, labeled left silent, calibration, confusions; customer-type
    accuracy (overall, non-default, default) with per-type recall and precision."""
    from assistant.suggest.evaluation import DEFAULT_INTENTS, DEFAULT_TYPES, evaluate
    from assistant.suggest.examples import read_text
    from assistant.suggest.matcher import Matcher

    config = load(config_path, db)
    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    sets: list[Path] = [*files, *([intents] if intents is not None else [])]
    type_set: Path | None = types
    if not files and intents is None and types is None:
        sets, type_set = [DEFAULT_INTENTS], DEFAULT_TYPES
    missing = [str(p) for p in [*sets, *([type_set] if type_set else [])] if not p.exists()]
    if missing:
        print(_("assistant: labeled set not found: %(files)s", files=", ".join(missing)), file=sys.stderr)
        return 1
    for path in [*sets, *([type_set] if type_set else [])]:
        try:
            read_text(path)  # as `phrases import` reads its files: UTF-8 with or without BOM, or GBK
        except UnicodeDecodeError:
            print(_("assistant: %(file)s: not UTF-8 or GBK text: save it as UTF-8", file=path), file=sys.stderr)
            return 1
        except OSError as exc:
            print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
            return 1
    matcher = Matcher(loaded[0], k=loaded[1], min_confidence=config.phrases.min_confidence)
    gap_ms = round(gap * 1000)
    if not sets and type_set is not None:
        print(f"== {type_set}")
        print(evaluate(matcher, None, type_set, gap_ms=gap_ms).format(misses=misses))
        return 0
    for n, path in enumerate(sets):
        report = evaluate(matcher, path, type_set if n == len(sets) - 1 else None, gap_ms=gap_ms)
        print(f"== {path}")
        print(report.format(misses=misses))
        print()
    return 0


@phrases.command(
    "train",
    short_help=N_("train the learned scorer (scorer.npz)"),
    help=N_("train the learned scorer from the triggers and examples; write scorer.npz"),
)
@click.option("--c", "c", type=float, default=None, help=N_("inverse regularization (default: the tested value)"))
@common_options
@phrases_option
def cmd_train(c: float | None, config_path: Path, db: Path | None, phrases_dir: Path | None) -> int:
    """Train the scorer (scikit-learn) and write it beside the library; the same library gives the same file."""
    from assistant.suggest.matcher import Matcher
    from assistant.suggest.scorer import trained_scorer_path
    from assistant.suggest.training import C, describe, train

    loaded = _load(config_path, db, phrases_dir)
    if loaded is None:
        return 1
    library = loaded[0]
    assert library.directory is not None
    outcome = train(Matcher(library, scorer=None, strict=True), lambda line: print(line, file=sys.stderr), c=c or C)
    path = trained_scorer_path(library.directory, library.layers)
    outcome.scorer.save(path)
    for line in describe(outcome):
        print(line)
    print(_("wrote %(path)s (%(size)s KiB)", path=path, size=path.stat().st_size // 1024))
    return 0


def _intent(library: Library, intent: str) -> str:
    """An intent as the command line shows it: its label (zh_CN) or its id (en)."""
    spec = library.intents.get(intent)
    return label_of(intent, spec.label if spec else None)
