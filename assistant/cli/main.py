"""The `assistant` command group: its subcommands, added statically, and `main(argv) -> exit status`."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from assistant import i18n
from assistant.cli import buyer, catalog, click_text, followups, log, move, panel, qa, qianniu, report, serve, suggest
from assistant.cli.common import os_problem
from assistant.config import ConfigError
from assistant.i18n import N_, _
from assistant.upgrade import SchemaError


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    help=N_("Customer-service assistant: reply suggestions, idle follow-ups, interaction log and KPIs."),
)
@click.option("-v", "--verbose", is_flag=True, help=N_("debug logging"))
def cli(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


assert qianniu.cmd_import.name == "import"  # `phrases import|export` join the phrases group on import
for command in (
    serve.serve_command,
    panel.panel_url,
    suggest.phrases,
    suggest.suggest_command,
    suggest.eval_command,
    report.report_command,
    report.simulate_command,
    log.log_command,
    log.archive_command,
    followups.followups,
    qa.qa,
    catalog.catalog,
    move.store_group,
    buyer.buyer_group,
):
    cli.add_command(command)


click_text.install()


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; its exit status (usage errors exit 2 with click's message, config errors return 2)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    i18n.use(click_text.configured_language(args))  # the config, once loaded, says it again
    click_text.translate_commands(cli, i18n.current())
    try:
        result = cli.main(args=args, prog_name="assistant", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        click_text.show(exc)
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(_("assistant: config error: %(error)s", error=_in_file(exc, click_text.config_path(args))), file=sys.stderr)  # fmt: skip
        return 2
    except SchemaError as exc:  # a database a newer release migrated, or one a running service holds unmigrated
        print(_("assistant: %(reason)s", reason=exc), file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # not a database, a locked or unreachable one (PostgreSQL's as well)
        print(_("assistant: the database cannot be used: %(reason)s", reason=exc), file=sys.stderr)
        return 1
    except OSError as exc:  # a file or a port the command cannot use: one line, not a traceback
        print(_("assistant: %(reason)s", reason=os_problem(exc)), file=sys.stderr)
        return 1
    return int(result or 0)


def _in_file(exc: ConfigError, path: Path) -> str:
    """A config error as the file that holds the key says it (`config.toml: unknown key …`): with several configs
    (one per shop, a copy being tried) the key alone did not say which file to open. An error that names its own
    file (not found, not TOML), or one from a run on the built-in defaults (no file), is as it was."""
    error = str(exc)
    if not path.is_file() or error.startswith(str(path)):
        return error
    return _("%(file)s: %(reason)s", file=path, reason=error)
