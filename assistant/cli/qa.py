"""`assistant qa check` (the flags of a text) and `assistant qa eval` (precision and recall on labeled sets)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from assistant.cli.common import common_options, load, os_problem
from assistant.config import Config, ConfigError
from assistant.i18n import N_, _
from assistant.qa.inspector import Inspector, load_inspector
from assistant.qa.rules import RulesError
from assistant.safetext import terminal

DEFAULT_SETS = tuple(
    Path(f"tests/data/{name}.tsv") for name in ("qa_dev", "qa_holdout", "qa_holdout2", "qa_supervisor")
)


@click.group("qa", help=N_("quality inspection (质检): check a text, evaluate the rules"))
def qa() -> None:
    pass


def _inspector(config: Config) -> Inspector | None:
    try:
        return load_inspector(config)
    except RulesError as exc:
        for problem in exc.problems:
            print(f"assistant: {problem}", file=sys.stderr)
        return None
    except ConfigError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return None


@qa.command("check", help=N_("the flags a message would get; exit 3 when it has any"))
@click.argument("text")
@click.option(
    "--side",
    type=click.Choice(["agent", "customer"]),
    default="agent",
    show_default=True,
    help=N_("who writes it: an agent's reply or a customer's message (each side has its own rules)"),
)
@click.option("--json", "as_json", is_flag=True, help=N_("print the flags as JSON"))
@common_options
def check_command(text: str, side: str, as_json: bool, config_path: Path, db: Path | None) -> int:
    inspector = _inspector(load(config_path, db))
    if inspector is None:
        return 1
    flags = [inspector.flag_json(f) for f in inspector.inspect(text, side)]
    if as_json:
        print(json.dumps({"flags": flags}, ensure_ascii=False))
    elif not flags:
        print(_("clean: no quality flag"))
    severities = {"high": _("high"), "medium": _("medium"), "low": _("low")}
    for f in [] if as_json else flags:
        severity = severities.get(f["severity"], f["severity"])
        print(_("%(label)s (%(severity)s)  「%(match)s」  rule %(rule)s", label=f["label"], severity=severity, match=f["match"], rule=f["rule"]))  # fmt: skip
    return 3 if flags else 0


@qa.command(
    "eval",
    short_help=N_("precision and recall of the rules"),
    help=N_("precision and recall per category, false alarms on ordinary agent replies"),
)
@click.option(
    "--set",
    "sets",
    type=click.Path(path_type=Path),
    multiple=True,
    help=N_("side<TAB>labels<TAB>text files (default: the development and held-out sets)"),
)
@click.option("--mistakes", is_flag=True, help=N_("also list every line the rules got wrong"))
@common_options
def eval_command(sets: tuple[Path, ...], mistakes: bool, config_path: Path, db: Path | None) -> int:
    from assistant.qa.evaluation import MalformedLine, evaluate, read_examples

    inspector = _inspector(load(config_path, db))
    if inspector is None:
        return 1
    for path in sets or DEFAULT_SETS:
        try:
            examples = read_examples(path)
        except OSError as exc:  # a mistyped --set: the file and the reason in the interface's language
            print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
            return 1
        except MalformedLine as exc:
            print(_("assistant: %(reason)s", reason=exc.said()), file=sys.stderr)
            return 1
        except ValueError as exc:  # not UTF-8
            print(f"assistant: {exc}", file=sys.stderr)
            return 1
        result = evaluate(inspector, examples)
        print(f"== {path} ==")
        labels = inspector.labels()
        print("\n".join(result.lines(labels)))
        for example, found in result.mistakes if mistakes else []:
            wanted = "、".join(labels.get(c, c) for c in sorted(example.labels)) or _("none")
            got = "、".join(labels.get(c, c) for c in sorted(found)) or _("none")
            side = _("agent") if example.side == "agent" else _("customer")
            said = _("  line %(line)s [%(side)s] wanted %(wanted)s, got %(got)s: %(text)s", line=example.line, side=side, wanted=wanted, got=got, text=example.text)  # fmt: skip
            print(terminal(said, single_line=True))
        print()
    return 0
