"""`assistant qa check` (the flags of a text) and `assistant qa eval` (precision and recall on labeled sets)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from assistant.cli.common import DAY, NAME, common_options, db_path, load, nothing_found, os_problem, refuses_log
from assistant.clock import yesterday
from assistant.config import Config, ConfigError
from assistant.i18n import N_, _
from assistant.qa.inspector import Inspector, load_inspector
from assistant.qa.rules import RulesError
from assistant.safetext import terminal

DEFAULT_SETS = tuple(
    Path(f"tests/data/{name}.tsv")
    for name in ("qa_dev", "qa_holdout", "qa_holdout2", "qa_supervisor", "qa_supervisor_holdout")
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


@qa.command(
    "day",
    short_help=N_("the day's inspection per agent"),
    help=N_(
        "the day's inspection (质检日报): per agent, their score, the points deducted and each finding (the rules'"
        " flags and the service norms of [qa]) with its message and conversation"
    ),
)
@common_options
@click.option(
    "--date", "day", type=DAY, default=None, help=N_("the local day (default: yesterday in the shop's timezone)")
)
@click.option("--shop", type=NAME, default=None, help=N_("only this shop"))
@click.option("--agent", type=NAME, default=None, help=N_("only conversations this agent took part in"))
@click.option("--all", "every", is_flag=True, help=N_("list every finding (else the first 5 of a rule per agent)"))
@click.option("--json", "as_json", is_flag=True, help=N_("print the inspection as JSON"))
def day_command(
    config_path: Path,
    db: Path | None,
    day: date | None,
    shop: str | None,
    agent: str | None,
    every: bool,
    as_json: bool,
) -> int:
    import time

    from assistant.daylog.query import DayQuery
    from assistant.daylog.source import open_day
    from assistant.qa.review import render_text, review_day, reviewer_of

    config = load(config_path, db)
    inspector = _inspector(config)  # a deduction of no category nor check is named there
    if inspector is None:
        return 1
    reviewer = reviewer_of(config.qa, inspector.categories)
    location = db_path(config)
    if refuses_log(location):
        return 1
    query = DayQuery(day or yesterday(config.tz), shop=shop, agent=agent, mask=config.privacy.mask)
    with open_day(config, location, query.day, query.shop) as conn:
        review = review_day(reviewer, config, conn, query, int(time.time() * 1000))
    if as_json:
        print(json.dumps({"date": query.day.isoformat(), **review.to_json()}, ensure_ascii=False))
        return 0
    if review.conversations == 0:
        if query.agent is not None:
            print(_("assistant: no conversation on %(day)s matches --agent or --conversation", day=query.day), file=sys.stderr)  # fmt: skip
        else:
            print(nothing_found(config, location, query.day, query.day, query.shop), file=sys.stderr)
        return 0
    title = query.day.isoformat() if query.shop is None else f"{query.day.isoformat()} · {query.shop}"
    sys.stdout.write(render_text(review, title, every=every))
    return 0
