"""`assistant followups list` and `assistant followups timers`: what the follow-ups did and what is pending;
`assistant followups skip-due`: a database restored from a backup sends nothing the service after it sent."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import click

from assistant import pg, store, upgrade
from assistant.cli.common import NAME, common_options, db_path, load, refuses_log
from assistant.clock import local_time
from assistant.config import Config
from assistant.followups import store as followup_store
from assistant.followups.policy import Policy
from assistant.followups.reasons import RESTORED, coded, shown
from assistant.hookspecs import FOLLOWUP_STATES
from assistant.i18n import N_, _, followup_states, ngettext
from assistant.safetext import terminal


@click.group("followups", help=N_("idle follow-ups: recent ones and pending timers"))
def followups() -> None:
    pass


@followups.command("list", help=N_("the latest follow-ups, newest first"))
@common_options
@click.option("--state", type=click.Choice(FOLLOWUP_STATES), default=None, help=N_("only follow-ups in this state"))
@click.option("--shop", type=NAME, default=None, help=N_("only this shop"))
@click.option("--limit", type=int, default=50, show_default=True, help=N_("at most this many"))
@click.option("--json", "as_json", is_flag=True, help=N_("one JSON object per line"))
def list_command(
    config_path: Path, db: Path | None, state: str | None, shop: str | None, limit: int, as_json: bool
) -> int:
    return run_list(load(config_path, db), state=state, shop=shop, limit=limit, as_json=as_json)


@followups.command("timers", help=N_("armed timers, soonest first"))
@common_options
@click.option("--limit", type=int, default=50, show_default=True, help=N_("at most this many"))
def timers_command(config_path: Path, db: Path | None, limit: int) -> int:
    return run_timers(load(config_path, db), limit=limit)


# Why `skip-due` cancelled a delivery still pending in a restored database.
RESTORED_NOTE = coded(RESTORED)


@followups.command("skip-due", help=N_("after restoring a backup: mark timers already due as not sent"))
@common_options
@click.option(
    "--before",
    default=None,
    metavar="TIME",
    help=N_("shop time YYYY-MM-DD HH:MM[:SS], or ISO 8601 with an offset (default: now)"),
)
@click.option("--dry-run", is_flag=True, help=N_("count them; change nothing"))
def skip_due_command(config_path: Path, db: Path | None, before: str | None, dry_run: bool) -> int:
    config = load(config_path, db)
    now = store.now_ms()
    return run_skip_due(
        config, before_ms=now if before is None else _moment(config, before), now_ms=now, dry_run=dry_run
    )


def run_skip_due(config: Config, *, before_ms: int, now_ms: int, dry_run: bool) -> int:
    path = db_path(config)
    if refuses_log(path):
        return 1
    held = None
    if not isinstance(path, pg.Location):
        try:
            held = store.hold_alone(Path(path))  # a running service would fire its timers from memory anyway
        except store.InUse:
            print(_("assistant: %(path)s is in use by a running service: stop it first", path=path), file=sys.stderr)
            return 1
    try:
        conn = store.connect(path)
        try:
            upgrade.migrate(conn)
            policy = Policy.from_config(config)
            with store.transaction(conn):
                timers, deliveries = followup_store.skip_due(
                    conn, before_ms, now_ms, policy.idle_ms, policy.future_ms, RESTORED_NOTE, dry_run=dry_run
                )
        finally:
            conn.close()
    finally:
        if held is not None:
            store.let_go(held)
    before = _local(config, before_ms)
    values = {
        "timers": ngettext("%(num)d armed timer due before %(before)s", "%(num)d armed timers due before %(before)s", timers, before=before),
        "deliveries": ngettext("%(num)d delivery still pending", "%(num)d deliveries still pending", deliveries),
    }  # fmt: skip
    if dry_run:
        print(_("would mark not sent: %(timers)s, %(deliveries)s (nothing changed)", **values))
    else:
        print(_('marked not sent: %(timers)s (cancelled, reason "restored"), %(deliveries)s (cancelled)', **values))
    return 0


def _moment(config: Config, text: str) -> int:
    """`--before` as epoch ms: a shop-local time, or one with its own offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            _("expected YYYY-MM-DD HH:MM[:SS] or an ISO 8601 time, got %(value)s", value=repr(text)),
            param_hint="'--before'",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.tz)
    return int(moment.timestamp() * 1000)


def _open(config: Config) -> sqlite3.Connection | None:
    path = db_path(config)
    if refuses_log(path):
        return None
    conn = store.connect(path, readonly=True)
    if not store.has_table(conn, "followups"):
        print(_("assistant: no follow-ups yet (the service has not run on this database)"), file=sys.stderr)
        conn.close()
        return None
    return conn


def run_list(config: Config, *, state: str | None, shop: str | None, limit: int, as_json: bool) -> int:
    conn = _open(config)
    if conn is None:
        return 1
    with conn:
        rows = followup_store.list_followups(conn, state=state, shop=shop, limit=limit)
    if as_json:
        for f in rows:
            print(json.dumps(f.to_json(), ensure_ascii=False))
        return 0
    states = followup_states(config.ui.language)
    kinds = {"payment_reminder": _("payment reminder"), "followup": _("follow-up")}
    for f in rows:
        when = _local(config, f.fired_ms)
        # the reason in the language's own parentheses: （…） in a Chinese line, where ASCII ones stood
        error = (
            "  " + _("(%(reason)s)", reason=shown_reason(f.last_error)) if f.last_error and f.state != "sent" else ""
        )
        state, kind = states.get(f.state, f.state), kinds.get(f.kind, f.kind)
        attempts = ngettext("%(num)d attempt", "%(num)d attempts", f.attempts)
        line = f"{when}  {state}  {kind}  {f.shop}/{f.conversation}  {attempts}  {f.text}{error}"
        print(terminal(line, single_line=True))
    if not rows:
        print(_("no follow-ups"), file=sys.stderr)
    return 0


def shown_reason(stored: str) -> str:
    """A follow-up's stored reason (a code, as the JSON has it) in the interface's language; a platform's or a hook's
    own words are shown as they came."""
    return shown(stored)


def run_timers(config: Config, *, limit: int) -> int:
    conn = _open(config)
    if conn is None:
        return 1
    with conn:
        timers = sorted(followup_store.armed_timers(conn), key=lambda t: t.due_ms)
    for t in timers[:limit]:
        line = _(
            "due %(due)s  %(where)s  agent %(agent)s  fired %(fired)s",
            due=_local(config, t.due_ms),
            where=f"{t.shop}/{t.conversation}",
            agent=t.agent or "-",
            fired=t.fired,
        )
        print(terminal(line, single_line=True))
    print(ngettext("%(num)d armed timer", "%(num)d armed timers", len(timers)), file=sys.stderr)
    return 0


def _local(config: Config, ms: int) -> str:
    return local_time(ms, config.tz).strftime("%Y-%m-%d %H:%M:%S")
