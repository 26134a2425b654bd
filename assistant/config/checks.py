"""The checks of a loaded config: every number's range, the choices, the shops' tables; the one-line errors."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from assistant.clock import ServiceHours
from assistant.events import clean_name, shows
from assistant.i18n import _

if TYPE_CHECKING:
    from assistant.config import Config


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Limit:
    """The values a number setting may take: `low`–`high`, or above `low` when `above` (a duration of 0 s)."""

    low: float
    high: float
    above: bool = False


HOUR = 3_600
DAY = 86_400
GIB = 1_073_741_824
MAX_WORKERS = 64  # [phrases] workers: more than any machine this runs on has cores
_POSITIVE_S = Limit(0, HOUR, above=True)  # a wait or time limit; longer ones hold a request or a task an hour
_FRACTION = Limit(0, 1)
# Every int and float setting (keys as dotted paths, list items without their index), and what it may be: a
# value beyond overflowed where the code used it (SQLite's and PostgreSQL's integers, `PRAGMA busy_timeout`'s
# 32-bit milliseconds, date arithmetic), held a task for ages, or refused everything (a -1 s tolerance).
LIMITS: dict[str, Limit] = {
    "server.port": Limit(1, 65_535),  # a socket takes the port modulo 65536: it listened somewhere else
    "server.max_body_bytes": Limit(1, GIB),
    "server.max_batch": Limit(1, 100_000),
    "server.request_timeout_s": _POSITIVE_S,
    "store.retention_days": Limit(1, 36_500),
    "store.busy_timeout_s": _POSITIVE_S,
    "store.report_timeout_s": Limit(0, DAY, above=True),  # PostgreSQL's statement_timeout: 0 would be none
    "webhook.signature_tolerance_s": Limit(1, DAY),  # 0 s: a signature made within the same second only
    "webhook.max_text_chars": Limit(1, 1_000_000),
    "phrases.top_k": Limit(1, 100),
    "phrases.min_confidence": _FRACTION,
    "phrases.workers": Limit(0, MAX_WORKERS),
    "phrases.loop_share": _FRACTION,  # 0: never on the loop (suggestions withheld until a worker is back)
    "phrases.fleet_reload_wait_s": Limit(0, HOUR),  # 0: asked, not waited for (202 unless all answered at once)
    "followups.idle_seconds": Limit(1, 7 * DAY),
    "followups.payment_reminder_window_s": Limit(0, 365 * DAY),
    "followups.max_followups_per_idle": Limit(0, 100),
    "followups.late_grace_s": Limit(0, 7 * DAY),
    "followups.late_settle_s": Limit(0, 3600),
    "followups.max_attempts": Limit(1, 100),
    "followups.backoff_base_s": _POSITIVE_S,
    "followups.backoff_max_s": Limit(0, DAY, above=True),
    "followups.delivery_timeout_s": _POSITIVE_S,
    "followups.retry_after_max_s": Limit(0, DAY),  # 0: a receiver's Retry-After is not waited out beyond the backoff
    "followups.max_late_s": Limit(0, DAY, above=True),
    "followups.lease_s": Limit(0, 7 * DAY, above=True),
    "kpi.slow_response_s": Limit(0, DAY, above=True),
    "kpi.recovery_window_s": Limit(1, 30 * DAY),
    "kpi.payment_window_hours": Limit(0, 2400, above=True),  # kpi.metrics.MAX_PAYMENT_WINDOW_HOURS
    "kpi.targets.first_response_s": Limit(0, DAY),
    "kpi.targets.response_avg_s": Limit(0, DAY),
    "kpi.targets.reply_rate": _FRACTION,
    "kpi.targets.ask_answer_ratio": Limit(0, 100),
    "kpi.targets.conversion": _FRACTION,
    "kpi.targets.pay_rate": _FRACTION,
    "kpi.commission.min_conversion": _FRACTION,
    "kpi.commission.rate": _FRACTION,
    "kpi.profit_margin": _FRACTION,
    "kpi.upsell.min_count": Limit(0, 1_000_000),
    "kpi.upsell.bonus": Limit(0, 10_000),  # yuan per upsell
    "kpi.upsell_window_hours": Limit(0, 24 * 31, above=True),
    "kpi.record_bonus": Limit(0, 100_000),  # yuan; 0: not computed
    "kpi.record_months": Limit(1, 24),  # each month before is read as its own report is: a month's cost each
    "kpi.record_min_inquiries": Limit(1, 1_000_000),
    "hooks.webhook_out.timeout_s": _POSITIVE_S,
    "hooks.chatwoot.max_body_bytes": Limit(1, GIB),
    "hooks.dingtalk.timeout_s": _POSITIVE_S,
    "hooks.wecom.timeout_s": _POSITIVE_S,
    "panel.open_hours": Limit(0, 24 * 365 * 10),  # 0: no limit
    "qa.escalate_after_s": Limit(0, 7 * DAY),  # 0: never
    "qa.max_attempts": Limit(1, 100),
    "qa.backoff_base_s": _POSITIVE_S,
    "qa.backoff_max_s": Limit(0, DAY, above=True),
    "qa.delivery_timeout_s": _POSITIVE_S,
    "qa.first_response_s": Limit(0, DAY),  # 0: not checked
    "qa.average_response_s": Limit(0, DAY),
}
# Names under which a secret is written: a URL's query parameter (a DingTalk robot's access_token, a WeCom robot's
# key, a gateway's token) or a key of a shop's own hook table, where a `*_env` key should name its variable.
_SECRET_NAMES = frozenset({"access_token", "token", "secret", "password", "passwd", "api_key", "apikey", "api_token", "app_secret", "secret_key", "private_key"})  # fmt: skip
_SECRET_SUFFIXES = ("_token", "_secret", "_password")
BUILT_IN_VARIABLES = frozenset({"shop", "agent", "customer", "product", "order", "amount", "item"})  # phrases'


def shown_key(path: str) -> str:
    """A dotted key as the file writes it: `store.busy_timeout_s` is `[store] busy_timeout_s`."""
    table, _dot, key = path.rpartition(".")
    return f"[{table}] {key}" if table else key


def finite(value: float, path: str) -> float:
    """A number setting's value as a float; NaN, infinity and integers beyond any float are refused (a NaN time
    limit never fired, an infinite one crashed where it became milliseconds)."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(_("%(key)s: must be a finite number, got %(value)s", key=shown_key(path), value=value))
    return number


def check_limits(where: str, values: dict[str, Any]) -> None:
    """The number settings of one table (`where`, dotted) against LIMITS, naming the key and its range."""
    section = re.sub(r"\[\d+\]", "", where)
    for key, value in values.items():
        limit = LIMITS.get(f"{section}.{key}")
        if limit is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        shown = shown_key(f"{where}.{key}")
        if limit.above and not limit.low < value <= limit.high:
            raise ConfigError(_("%(key)s: must be above %(min)s and at most %(max)s, got %(value)s", key=shown, min=limit.low, max=limit.high, value=value))  # fmt: skip
        if not limit.low <= value <= limit.high:
            raise ConfigError(_("%(key)s: must be between %(min)s and %(max)s, got %(value)s", key=shown, min=limit.low, max=limit.high, value=value))  # fmt: skip


# What shops write for China's time, which the tz database names Asia/Shanghai.
_CHINA_TIME = frozenset({"asia/beijing", "beijing", "china", "cst", "utc+8", "gmt+8", "utc+08:00", "北京", "北京时间"})


def _unknown_zone(name: str) -> str:
    """The line for a time zone the tz database lacks, with the one it resembles (`Asia/Shanghia`, `Asia/Beijing`:
    Asia/Shanghai)."""
    key, value = "[shop] timezone", repr(name)
    zones = sorted(available_timezones())
    by_lower = {z.lower(): z for z in zones} | {z.rsplit("/", 1)[-1].lower(): z for z in reversed(zones)}
    wanted = name.strip().lower().replace(" ", "_")
    close = ["asia/shanghai"] if wanted in _CHINA_TIME else difflib.get_close_matches(wanted, list(by_lower), 1, 0.8)
    if close:
        close = [by_lower[close[0]]]
        return _("%(key)s: unknown time zone %(value)s (did you mean %(close)s?)", key=key, value=value, close=repr(close[0]))  # fmt: skip
    return _("%(key)s: unknown time zone %(value)s (a name of the tz database, such as 'Asia/Shanghai')", key=key, value=value)  # fmt: skip


def check(config: Config) -> None:
    """What a config's values must be beyond their types and ranges: a time zone, choices, paths, PostgreSQL."""
    try:
        ZoneInfo(config.shop.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(_unknown_zone(config.shop.timezone)) from None
    if config.store.url:
        from assistant import pg  # psycopg takes 0.1 s to import: only where PostgreSQL is used

        if pg.has_password(config.store.url):  # a keyword string's `password=` too: the value is not shown
            raise ConfigError(
                _(
                    "%(key)s: no password here; write postgresql://user@host:port/database and set the password in the variable [store] password_env names",
                    key="[store] url",
                )
            )  # fmt: skip
        if not pg.is_url(config.store.url):
            raise ConfigError(
                _("%(key)s: expected postgresql://…, got %(value)s", key="[store] url", value=repr(config.store.url))
            )
        f = config.followups  # leases matter where instances share a database: another takes a live delivery over
        if f.lease_s <= f.delivery_timeout_s + f.backoff_max_s:
            raise ConfigError(_("%(key)s is %(lease)g s: with several instances on PostgreSQL it must be above delivery_timeout_s + backoff_max_s (%(timeout)g + %(backoff)g s), or another instance takes a delivery still in flight over and sends it twice: set lease_s above %(least)g", key="[followups] lease_s", lease=f.lease_s, timeout=f.delivery_timeout_s, backoff=f.backoff_max_s, least=f.delivery_timeout_s + f.backoff_max_s))  # fmt: skip
    if not paths(config.phrases.path) or not all(p.strip() for p in paths(config.phrases.path)):  # "": its folder
        raise ConfigError(_("%(key)s: at least one directory, and no empty name", key="[phrases] path"))
    if built_in := sorted(set(config.phrases.variables) & BUILT_IN_VARIABLES):  # set elsewhere: [shop] name …
        raise ConfigError(_("%(key)s: %(names)s is a built-in variable of phrases, filled by the assistant", key="[phrases.variables]", names="、".join(built_in)))  # fmt: skip
    _check_shops(config)
    _check_service_hours(config)
    _check_hook_secrets(config)
    if config.ui.language not in ("zh_CN", "en"):
        raise ConfigError(_expected("[ui] language", ("zh_CN", "en"), config.ui.language))
    modes = ("send", "suggest")
    if config.followups.mode not in modes:
        raise ConfigError(_expected("[followups] mode", modes, config.followups.mode))
    for shop, mode in config.followups.shop_modes.items():
        if mode not in modes:
            raise ConfigError(_expected(f"[followups.shop_modes] {shop}", modes, mode))
    for name, msgtype in (("dingtalk", config.hooks.dingtalk.msgtype), ("wecom", config.hooks.wecom.msgtype)):
        if msgtype not in ("markdown", "text"):
            raise ConfigError(_expected(f"[hooks.{name}] msgtype", ("markdown", "text"), msgtype))
    if config.followups.quiet_policy not in ("defer", "drop"):
        raise ConfigError(_expected("[followups] quiet_policy", ("defer", "drop"), config.followups.quiet_policy))


def paths(value: str | list[str]) -> list[str]:
    """A directory or a list of them (`[phrases] path`, a shop's layers), as a list."""
    return [value] if isinstance(value, str) else value


def _check_shops(config: Config) -> None:
    """Per-shop tables are keyed by shop ids as events give them (trimmed, as the log keeps them): a key that no
    event could match, or a shop layer that is also a shared one (its phrases would be everyone's), is refused."""
    shared = {config.resolve(p) for p in paths(config.phrases.path)}
    tables = (("[shop.names]", config.shop.names), ("[shop.shop_service_hours]", config.shop.shop_service_hours))
    for table, keys in (*tables, ("[phrases.shops]", config.phrases.shops)):
        for shop in keys:
            if clean_name(shop) != shop or not shows(shop):
                raise ConfigError(_("%(key)s: a shop id as events give it, without spaces around it or invisible characters, got %(value)s", key=table, value=repr(shop)))  # fmt: skip
    if not shows(config.shop.name):  # every other shop's `{{ shop }}`: "亲，欢迎光临~" with the name left out
        raise ConfigError(_("%(key)s: must not be empty", key="[shop] name"))
    for shop, name in config.shop.names.items():
        if not shows(name):  # `{{ shop }}` of phrases, to buyers: blank ("", spaces, ㅤ) is none
            raise ConfigError(_("%(key)s: must not be empty", key=f"[shop.names] {shop}"))
    for shop, dirs in config.phrases.shops.items():
        if not paths(dirs) or not all(d.strip() for d in paths(dirs)):
            raise ConfigError(_("%(key)s: at least one directory, and no empty name", key=f"[phrases.shops] {shop}"))
        if both := [d for d in paths(dirs) if config.resolve(d) in shared]:
            raise ConfigError(_("%(key)s: %(dir)s is also in [phrases] path (shared by every shop)", key=f"[phrases.shops] {shop}", dir=both[0]))  # fmt: skip


def _check_service_hours(config: Config) -> None:
    """`[shop] service_hours` and each shop's own: a span of the day, written HH:MM-HH:MM, or "" (always open)."""
    spans = [("[shop] service_hours", config.shop.service_hours)]
    spans += [(f"[shop.shop_service_hours] {shop}", text) for shop, text in config.shop.shop_service_hours.items()]
    for key, text in spans:
        try:
            ServiceHours.parse(text)
        except ValueError as exc:
            raise ConfigError(_("%(key)s: %(error)s (such as '09:00-23:00', or '' for always open)", key=key, error=exc)) from None  # fmt: skip


def _check_hook_secrets(config: Config) -> None:
    """A secret pasted into config.toml with a hook's URL (a robot's ?access_token=…, user:password@) or as a key of
    a shop's own hook table (`token = "…"`) is refused, naming the key and the `*_env` key its variable goes in."""
    h = config.hooks
    urls: list[tuple[str, str, str, frozenset[str]]] = [
        ("webhook_out", "url", h.webhook_out.url, frozenset()),
        ("chatwoot", "url", h.chatwoot.url, frozenset()),
        ("dingtalk", "url", h.dingtalk.url, frozenset()),
        ("wecom", "url", h.wecom.url, frozenset({"key"})),  # the robot's webhook key is its whole secret
    ]
    env_keys = {"webhook_out": "secret_env", "chatwoot": "api_token_env", "dingtalk": "access_token_env", "wecom": "key_env"}  # fmt: skip
    for name, table in h.settings.items():
        for key, value in table.items():
            if key.lower() in _SECRET_NAMES or key.lower().endswith(_SECRET_SUFFIXES):
                raise ConfigError(_("%(key)s: secrets are not written in the config file; put it in an environment variable and write that variable's name in %(env_key)s (the hook reads it with config.secret)", key=f"[hooks.{name}] {key}", env_key=f"{key}_env"))  # fmt: skip
            if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
                urls.append((name, key, value, frozenset()))
    for name, key, url, more in urls:
        parts = urlsplit(url)
        try:
            password = parts.password
        except ValueError:  # a malformed address: its hook says so where it uses it
            continue
        found = [p for p, _v in parse_qsl(parts.query) if p.lower() in _SECRET_NAMES | more]
        if password is None and not found:
            continue
        part, where = (f"{found[0]}=…" if found else "user:…@"), f"[hooks.{name}] {key}"
        if name not in env_keys:  # a shop's own hook: its own `*_env` key names the variable
            raise ConfigError(_("%(key)s: the URL holds a secret (%(part)s), and secrets are not written in the config file: write the URL without it, put the secret in an environment variable and its name in a key ending in _env (docs/hooks.md)", key=where, part=part))  # fmt: skip
        raise ConfigError(_("%(key)s: the URL holds a secret (%(part)s), and secrets are not written in the config file: write the URL without it, and put the secret in the environment variable %(env_key)s names", key=where, part=part, env_key=f"[hooks.{name}] {env_keys[name]}"))  # fmt: skip


def _expected(key: str, choices: tuple[str, str], value: object) -> str:
    """`key: expected 'a' or 'b', got 'c'` in the interface language."""
    first, second = (repr(c) for c in choices)
    return _("%(key)s: expected %(first)s or %(second)s, got %(value)s", key=key, first=first, second=second, value=repr(value))  # fmt: skip
