"""No 催付 sent at night (`adjust_followup`): a payment reminder that comes due in the shop's quiet hours is not sent
to the buyer; it is recorded `cancelled`, and `assistant followups list` says why (`hooks.quiet_hours 的
adjust_followup 决定不发给买家：免打扰时段 22:00–08:00，23:10 不发送`). An example to copy as much as a hook to use; off
unless listed:

    [hooks]
    enabled = ["quiet_hours"]

    [hooks.quiet_hours]
    start = "22:00"                  # from this local time ([shop] timezone) …
    end = "08:00"                    # … to this one, the next morning when earlier than start
    kinds = ["payment_reminder"]     # optional: 催付 (the default); add "followup" to keep 结束语 back too

Only follow-ups the service sends itself (`[followups] mode = "send"`) are kept back: one suggested to an agent at
work at night is the agent's to send. The time is the one the follow-up is chosen at, on the service's clock.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from assistant.clock import local_time
from assistant.config import Config, ConfigError
from assistant.hookspecs import DoNotSend, Followup, hookimpl
from assistant.i18n import _

NAME = "quiet_hours"
KINDS = ("followup", "payment_reminder")
DEFAULT_KINDS = ["payment_reminder"]


def settings(config: Config) -> dict[str, Any]:
    """This hook's `[hooks.quiet_hours]` table."""
    return config.hooks.settings.get(NAME, {})


def clock_time(table: dict[str, Any], key: str) -> time:
    """A `HH:MM` value of the table; ConfigError naming the key when it is not one."""
    value = table.get(key)
    try:
        if not isinstance(value, str) or len(value) != 5:
            raise ValueError(value)
        return time.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            _("%(key)s: expected a time of day like %(example)s, got %(value)s", key=f"[hooks.{NAME}] {key}",
              example='"22:00"', value=repr(value))
        ) from None  # fmt: skip


@hookimpl
def on_startup(config: Config) -> None:
    table = settings(config)
    if clock_time(table, "start") == clock_time(table, "end"):
        raise ConfigError(_("%(key)s: start and end are the same time", key=f"[hooks.{NAME}]"))
    kinds = table.get("kinds", DEFAULT_KINDS)
    if not isinstance(kinds, list) or not kinds or any(kind not in KINDS for kind in kinds):
        raise ConfigError(
            _("%(key)s: expected a list of %(kinds)s", key=f"[hooks.{NAME}] kinds", kinds="、".join(map(repr, KINDS)))
        )
    unknown = set(table) - {"start", "end", "kinds"}
    if unknown:
        raise ConfigError(_("unknown key '%(key)s'", key=f"hooks.{NAME}.{sorted(unknown)[0]}"))


def quiet(at: time, start: time, end: time) -> bool:
    """Whether `at` is within start–end (over midnight when end is earlier than start); start counts, end does not."""
    return start <= at < end if start < end else at >= start or at < end


@hookimpl
def adjust_followup(config: Config, followup: Followup) -> DoNotSend | None:
    table = settings(config)
    if followup.mode != "send" or followup.kind not in table.get("kinds", DEFAULT_KINDS):
        return None
    start, end = clock_time(table, "start"), clock_time(table, "end")
    at = local_time(followup.fired_ms, config.tz)
    if not quiet(at.time(), start, end):
        return None
    return DoNotSend(
        _("quiet hours %(start)s–%(end)s: not sent at %(time)s", start=table["start"], end=table["end"],
          time=at.strftime("%H:%M"))
    )  # fmt: skip
