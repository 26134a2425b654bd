"""config.toml → frozen, typed dataclasses; secrets from the environment variables it names."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from assistant.clock import QuietHours, ServiceHours
from assistant.config.checks import ConfigError, check, check_limits, finite, paths, shown_key
from assistant.config.norms import CLOSING_WORDS, GREETING_WORDS, QUESTION_WORDS
from assistant.config.tomlfile import load_toml
from assistant.i18n import N_, _, os_reason

if TYPE_CHECKING:  # psycopg takes 0.1 s to import: only where PostgreSQL is used (not in a matching worker)
    from assistant import pg


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 262_144
    max_batch: int = 500
    access_log: bool = False  # one log line per request; off by default, rejections are always logged
    # An idle connection is closed after this long; a request's headers or body must arrive within it.
    request_timeout_s: float = 15.0


@dataclass(frozen=True)
class StoreConfig:
    path: str = "data/assistant.db"
    retention_days: int = 180
    archive_dir: str = "data/archive"
    # How long a write waits for another process's lock before the request answers 503; below the
    # platforms' webhook timeouts (Chatwoot waits 5 s).
    busy_timeout_s: float = 2.0
    # PostgreSQL instead of the file: "postgresql://user@host:5432/db", no password in it (password_env; docs/scaling.md)
    url: str = ""
    password_env: str = "ASSISTANT_DB_PASSWORD"
    report_timeout_s: float = 600.0  # PostgreSQL: a report's or daily log's statements end past it (docs/scaling.md)


@dataclass(frozen=True)
class WebhookConfig:
    secret_env: str = "ASSISTANT_WEBHOOK_SECRET"
    signature_tolerance_s: int = 300
    max_text_chars: int = 5000


@dataclass(frozen=True)
class ShopConfig:
    timezone: str = "Asia/Shanghai"
    name: str = "本店"  # `{{ shop }}` of phrases; `names` gives a shop (by its id in events) a name of its own
    names: dict[str, str] = field(default_factory=dict)
    # When agents are on duty ("09:00-23:00"; "": always): a buyer's wait runs only then (docs/kpi.md, "Service hours").
    service_hours: str = ""
    shop_service_hours: dict[str, str] = field(default_factory=dict)  # a shop's own (by its id in events)

    def hours_of(self, shop: str) -> ServiceHours | None:
        """The service hours of `shop` (None: always open)."""
        return ServiceHours.parse(self.shop_service_hours.get(shop, self.service_hours))


@dataclass(frozen=True)
class PhrasesConfig:
    # One directory, or several: the first holds the vocabulary (intents, customer types, examples, the
    # scorer) and its demo phrases; each later one is a shop's layer whose phrases replace an earlier
    # layer's phrase of the same code or id.
    path: str | list[str] = "phrases"
    include_demo: bool = True  # false: the first directory's phrases are left out (its vocabulary stays)
    top_k: int = 3
    min_confidence: float = 0.2  # below this (0–1) a message gets no suggestion
    variables: dict[str, str] = field(default_factory=dict)
    # A shop's own layers (shop id → directories): their phrases answer that shop's conversations only, over
    # the shared layers of `path` (docs/phrases.md).
    shops: dict[str, str | list[str]] = field(default_factory=dict)
    # Worker processes that match customer messages on other cores (docs/scaling.md); 0: in the service's own.
    workers: int = 1
    # While no worker can take a message, the event loop matches at most this share of its time (0-1, over a
    # second); past it, a message is answered without suggestions.
    loop_share: float = 0.25
    # How long `POST /v1/admin/reload?fleet=1` waits for every instance's outcome (a request's `wait_s` overrides).
    fleet_reload_wait_s: float = 60.0


@dataclass(frozen=True)
class AuthConfig:
    admin_token_env: str = "ASSISTANT_ADMIN_TOKEN"
    supervisor_token_env: str = "ASSISTANT_SUPERVISOR_TOKEN"
    agent_token_env: str = "ASSISTANT_AGENT_TOKEN"


@dataclass(frozen=True)
class FollowupsConfig:
    enabled: bool = True
    idle_seconds: int = 300
    mode: str = "suggest"  # "send" (deliver through hooks) or "suggest" (prompt the agent only)
    shop_modes: dict[str, str] = field(default_factory=dict)  # per-shop override of `mode`
    payment_reminder_window_s: int = 86_400
    max_followups_per_idle: int = 1
    quiet_hours: str = ""  # "23:00-08:00" in the shop's timezone; "" for none
    quiet_policy: str = "defer"  # "defer" to the end of the quiet period, or "drop"
    late_grace_s: int = 120
    late_settle_s: float = 5.0  # a timer due when armed (a late message) or at start waits this for a backlog
    max_attempts: int = 8  # waits of 1.5-3 minutes in all: longer than a receiver's restart (5 from 1 s: 7.5-15 s)
    backoff_base_s: float = 2.0
    backoff_max_s: float = 60.0
    delivery_timeout_s: float = 10.0
    retry_after_max_s: float = 600.0  # the longest a receiver's `Retry-After` is waited at once
    max_late_s: float = 900.0  # not delivered this long after it came due: too late (`missed`), not tried again
    # Several instances on one database: a timer armed, or a delivery pending, this long past its time belonged
    # to an instance that stopped, and another takes it over; above delivery_timeout_s + backoff_max_s (checked).
    lease_s: float = 90.0

    def __post_init__(self) -> None:
        try:
            QuietHours.parse(self.quiet_hours)
        except ValueError as exc:
            raise ConfigError(_("%(key)s: %(error)s", key="[followups] quiet_hours", error=exc)) from None

    def mode_for(self, shop: str) -> str:
        return self.shop_modes.get(shop, self.mode)


@dataclass(frozen=True)
class KpiTargets:
    first_response_s: float = 10.0
    response_avg_s: float = 30.0
    reply_rate: float = 0.98
    ask_answer_ratio: float = 1.2
    conversion: float = 0.40
    pay_rate: float = 0.80


@dataclass(frozen=True)
class CommissionTier:
    min_conversion: float = 0.0  # the tier applies from this 询单转化率 (fraction) upward
    rate: float = 0.015


def _default_tiers() -> list[CommissionTier]:
    # Seed 002's table: <30% 1.5%; ≥30% 3%; ≥30.5% 3.5%; ≥35% 4%; ≥40% 6%.
    tiers = ((0.0, 0.015), (0.30, 0.03), (0.305, 0.035), (0.35, 0.04), (0.40, 0.06))
    return [CommissionTier(floor, rate) for floor, rate in tiers]


@dataclass(frozen=True)
class UpsellTier:
    min_count: int = 0  # the tier applies from this many 追销 (upsells) in the report's period upward
    bonus: float = 0.5  # yuan for each of them


def _default_upsell_tiers() -> list[UpsellTier]:
    # Seed 002: at least 0.5 元 each; 10 or more in a month 1 元 each, 50 → 2 元, 100 → 3 元.
    return [UpsellTier(floor, bonus) for floor, bonus in ((0, 0.5), (10, 1.0), (50, 2.0), (100, 3.0))]


@dataclass(frozen=True)
class KpiConfig:
    slow_response_s: float = 60.0
    recovery_window_s: int = 1800
    # A payment or refund counts for its inquiry's day when stamped within this after the order (Taobao closes an
    # unpaid order after 72 h); a day is final once it has passed after the end of D+1 (docs/kpi.md).
    payment_window_hours: float = 72.0
    targets: KpiTargets = field(default_factory=KpiTargets)
    commission: list[CommissionTier] = field(default_factory=_default_tiers)
    score_weights: dict[str, float] = field(default_factory=dict)  # empty: the built-in table (docs/kpi.md)
    grades: dict[str, float] = field(default_factory=dict)  # empty: A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, else E
    # 利润率 (a fraction) for the 客服主管's commission: 询单成交额 × 利润率 × the tier of the agents' average
    # 询单转化率 (seed 002). 0: not computed (the log knows no margin). `profit_margins`: a shop's own (by its id).
    profit_margin: float = 0.0
    profit_margins: dict[str, float] = field(default_factory=dict)
    # 追销 (seed 002): an order the buyer placed within this many hours after an earlier one, an agent having written
    # in between, paid per success at the tier the period's count reaches (docs/kpi.md, "Upsells").
    upsell: list[UpsellTier] = field(default_factory=_default_upsell_tiers)
    upsell_window_hours: float = 24.0
    # 询单转化率历史最高奖 (seed 002): yuan for each agent whose month's conversion beats the highest monthly one of any
    # agent in the `record_months` months before (1: the seed's 上月最高), counting months with at least
    # `record_min_inquiries` 询单. 0: not computed (docs/kpi.md, "The conversion record").
    record_bonus: float = 0.0
    record_months: int = 1
    record_min_inquiries: int = 20

    def margin_of(self, shop: str) -> float:
        """The shop's profit margin for its supervisor's commission (0: not computed)."""
        return self.profit_margins.get(shop, self.profit_margin)


@dataclass(frozen=True)
class WebhookOutConfig:
    url: str = ""
    secret_env: str = "ASSISTANT_OUTBOUND_SECRET"
    timeout_s: float = 10.0


@dataclass(frozen=True)
class ChatwootConfig:
    url: str = "http://127.0.0.1:3000"
    api_token_env: str = "CHATWOOT_API_TOKEN"
    # Chatwoot account id → env var of that account's token (an agent bot belongs to one account); others: above.
    account_tokens_env: dict[str, str] = field(default_factory=dict)
    webhook_secret_env: str = "CHATWOOT_WEBHOOK_SECRET"  # the account webhook's secret
    # Account id → env var of its own webhook's secret: that account's payloads verify with it alone, and it
    # verifies no other account's (a shop's administrator sees their webhook's secret).
    account_secrets_env: dict[str, str] = field(default_factory=dict)
    # Env vars of more sources' secrets: an API inbox's webhook, each agent bot (each signs with its own).
    extra_secrets_env: list[str] = field(default_factory=list)
    allow_unsigned: bool = False
    # E-mail inboxes send the mail's HTML twice in one delivery; Chatwoot never re-sends what is refused.
    max_body_bytes: int = 8_388_608
    post_suggestions_as_note: bool = False
    shop_by_inbox: bool = False  # shop = "<account>:<inbox>" instead of the account alone
    note_shops: list[str] = field(default_factory=list)  # shops whose agents get suggestion notes; empty: all
    item_attribute: str = "item_id"  # the conversation custom attribute holding the item id (docs/catalog.md)

    def token_env(self, account: str) -> str:
        """The env var holding the API token for Chatwoot account `account`."""
        return self.account_tokens_env.get(account, self.api_token_env)


@dataclass(frozen=True)
class DingTalkConfig:
    url: str = "https://oapi.dingtalk.com/robot/send"
    access_token_env: str = "DINGTALK_ACCESS_TOKEN"
    secret_env: str = "DINGTALK_SECRET"  # the robot's 加签 secret (SEC…); unset: unsigned (keyword or IP robots)
    msgtype: str = "markdown"  # "markdown" or "text"
    at_mobiles: list[str] = field(default_factory=list)  # @ these members on every alert
    at_all: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class WecomConfig:
    url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    key_env: str = "WECOM_WEBHOOK_KEY"
    msgtype: str = "markdown"  # "markdown" or "text" (only text can @ members)
    mentioned_mobiles: list[str] = field(default_factory=list)
    timeout_s: float = 10.0


@dataclass(frozen=True)
class HooksConfig:
    enabled: list[str] = field(default_factory=list)
    webhook_out: WebhookOutConfig = field(default_factory=WebhookOutConfig)
    chatwoot: ChatwootConfig = field(default_factory=ChatwootConfig)
    dingtalk: DingTalkConfig = field(default_factory=DingTalkConfig)
    wecom: WecomConfig = field(default_factory=WecomConfig)
    # `[hooks.<name>]` tables of a shop's own enabled hooks, as written (their `*_env` keys name secrets).
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class PrivacyConfig:
    mask: bool = True


@dataclass(frozen=True)
class PanelConfig:
    # A conversation no event touched for this long leaves the agents' lists, closed or not (many platforms
    # never say a chat ended); 0 keeps every open conversation. Watching one conversation always shows it.
    open_hours: float = 24.0
    demo: bool = False  # the "customer says…" box posting into a demo conversation
    demo_shop: str = "demo"
    demo_agent: str = "小美"


@dataclass(frozen=True)
class QaConfig:
    enabled: bool = True
    rules: list[str] = field(default_factory=lambda: ["qa.toml"])  # in the phrase directory; later files extend
    alert_categories: list[str] = field(default_factory=lambda: ["risk"])  # flags that alert supervisors at once
    escalate_after_s: int = 300  # an alert whose conversation has no agent reply by then escalates (0: never)
    public_url: str = ""  # the service's address as supervisors reach it, for links in alerts
    max_attempts: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 120.0
    delivery_timeout_s: float = 10.0
    # The day's inspection (`assistant qa day`, docs/quality.md): the shop's service norms and its deductions.
    first_response_s: float = 30.0  # a conversation's first reply later than this is a finding (0: not checked)
    average_response_s: float = 60.0  # an agent's average reply time in a conversation over this (0: not checked)
    question_words: list[str] = field(default_factory=lambda: list(QUESTION_WORDS))  # empty: unanswered not checked
    greeting_words: list[str] = field(default_factory=lambda: list(GREETING_WORDS))  # 欢迎语; empty: not checked
    closing_words: list[str] = field(default_factory=lambda: list(CLOSING_WORDS))  # 结束语; empty: not checked
    deductions: dict[str, float] = field(default_factory=dict)  # points per finding, by category or check

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError(_("%(key)s: at least one rules file", key="[qa] rules"))
        for name, points in self.deductions.items():
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points <= 100:
                raise ConfigError(
                    _("%(key)s: must be between %(min)s and %(max)s, got %(value)s", key=f"[qa.deductions] {name}",
                      min=0, max=100, value=points)
                )  # fmt: skip


@dataclass(frozen=True)
class CatalogConfig:
    """The wording of answers built from the product catalog: sandboxed templates (docs/catalog.md)."""

    fact_answer: str = "亲，这款{{ facts }}哦~"
    size_answer: str = "亲，{{ measures }}建议拿{{ size }}哦~"
    ask_height: str = "亲，{{ measures }}收到啦~ 麻烦再告诉我{{ wearer }}的身高（多少厘米），我对照尺码表帮您选码哦~"
    ask_weight: str = "亲，{{ measures }}收到啦~ 麻烦再告诉我{{ wearer }}的体重（多少斤），我对照尺码表帮您选码哦~"
    ask_under_bust: str = "亲，{{ measures }}收到啦~ 麻烦再告诉我{{ wearer }}的下胸围（胸部下沿水平一圈，多少厘米），我对照尺码表帮您选码哦~"
    ask_over_bust: str = "亲，{{ measures }}收到啦~ 麻烦再告诉我{{ wearer }}的上胸围（胸部最丰满处水平一圈，多少厘米），我对照尺码表帮您选码哦~"
    ask_foot: str = "亲，鞋子按脚长选码最准，麻烦量一下{{ wearer }}的脚长（脚后跟到最长脚趾，多少厘米）告诉我，我对照尺码表帮您选码哦~"
    no_size: str = (
        "亲，{{ measures }}超出了这款尺码表的范围（{{ span }}），这款可能没有合适您的码，建议看看店里其他款哦~"
    )
    size_conflict: str = (
        "亲，按{{ measures }}是{{ by_body }}，按{{ girth }}是{{ by_girth }}，建议拿大的{{ size }}，穿着不会紧哦~"
    )
    compare_answer: str = "亲，{{ answers }}哦~"
    not_told: str = "亲，这款{{ facts }}，商品信息里没有写{{ asked }}，我帮您确认一下再回复您哦~"


@dataclass(frozen=True)
class UiConfig:
    language: str = "zh_CN"  # every page and the command line's text: zh_CN or en


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    shop: ShopConfig = field(default_factory=ShopConfig)
    phrases: PhrasesConfig = field(default_factory=PhrasesConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    followups: FollowupsConfig = field(default_factory=FollowupsConfig)
    kpi: KpiConfig = field(default_factory=KpiConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    qa: QaConfig = field(default_factory=QaConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    # Values of the environment variables named by `*_env` keys, captured once at load.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    base_dir: Path = field(default_factory=Path.cwd)

    def secret(self, env_name: str) -> str | None:
        """The value of a secret's environment variable, or None when unset or empty."""
        return self.secrets.get(env_name) or None

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's directory."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p

    def location(self) -> Path | pg.Location:
        """Where the log lives: the PostgreSQL database of `[store] url`, else the SQLite file of `path`."""
        if self.store.url:
            from assistant import pg

            return pg.Location(self.store.url, self.secret(self.store.password_env), self.store.password_env)
        return self.resolve(self.store.path)

    def phrase_dirs(self) -> list[Path]:
        """The phrase library's directories, the vocabulary's first, resolved."""
        return [self.resolve(p) for p in paths(self.phrases.path)]

    def shop_phrase_dirs(self) -> dict[str, list[Path]]:
        """Each shop's own phrase layers (`[phrases.shops]`), resolved."""
        return {shop: [self.resolve(p) for p in paths(dirs)] for shop, dirs in self.phrases.shops.items()}

    def shop_name(self, shop: str) -> str:
        """`{{ shop }}` in a conversation of `shop`: its `[shop.names]` entry, else `[shop] name`."""
        return self.shop.names.get(shop, self.shop.name)

    def qa_rule_files(self) -> list[Path]:
        """The quality rule files of `[qa] rules`, relative to the first phrase directory; the phrase library
        does not read them as phrase groups."""
        directory = self.phrase_dirs()[0]
        return [directory / path for path in self.qa.rules]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone)


_SECTIONS_NOT_FROM_FILE = {"secrets", "base_dir"}


def load_config(
    path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read and validate a config file (None: defaults only); `overrides` patch sections after reading."""
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            data = load_toml(p)
        except FileNotFoundError:
            raise ConfigError(_("%(file)s: config file not found", file=p)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_("%(file)s: not valid TOML: %(error)s", file=p, error=exc)) from None
        except OSError as exc:  # a folder, a file it may not read: the reason, not a traceback
            raise ConfigError(_("%(file)s: %(reason)s", file=p, reason=os_reason(exc))) from None
        base_dir = p.resolve().parent
    for section, values in (overrides or {}).items():
        if not isinstance(data.get(section, {}), dict):  # `store = false`: said as of any other section
            raise ConfigError(_("%(key)s: expected a table", key=section))
        merged = dict(data.get(section, {}))
        merged.update({k: v for k, v in values.items() if v is not None})
        data[section] = merged
    for key in _SECTIONS_NOT_FROM_FILE:
        if key in data:
            raise ConfigError(_("unknown key '%(key)s'", key=key))
    built = _build(Config, data, "")
    config = dataclasses.replace(built, base_dir=base_dir)
    check(config)
    for key, name in _env_keys(config, ""):
        if not _ENV_NAME.fullmatch(name):  # the secret itself, pasted where its variable's name goes: not shown
            raise ConfigError(_("%(key)s: expected the name of an environment variable (letters, digits and _, such as SHOP_TOKEN), not the secret itself: put the secret in that variable and write its name here", key=shown_key(key)))  # fmt: skip
    environ = os.environ if env is None else env
    secrets = {name: environ[name] for name in _env_names(config) if environ.get(name)}
    return dataclasses.replace(config, secrets=secrets)


def _env_names(obj: Any) -> set[str]:
    """Every environment-variable name a `*_env` key of the config points at."""
    names: set[str] = set()
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name.endswith("_env") and isinstance(value, str) and value:
                names.add(value)
            elif f.name.endswith("_env") and isinstance(value, list):  # several secrets, one variable each
                names |= {v for v in value if isinstance(v, str) and v}
            elif f.name.endswith("_env") and isinstance(value, Mapping):  # one secret per key
                names |= {v for v in value.values() if isinstance(v, str) and v}
            else:
                names |= _env_names(value)
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str) and value:
                names.add(value)
            else:
                names |= _env_names(value)
    return names


# An environment variable's name as a shell sets it; a `*_env` value that is not one is a secret written in the file.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_keys(obj: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every `*_env` key of the config (dotted, a list's or table's entries under it) with the name it holds."""
    if dataclasses.is_dataclass(obj):
        items: Iterable[tuple[str, Any]] = ((f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj))
    elif isinstance(obj, Mapping):
        items = ((str(k), v) for k, v in obj.items())
    else:
        return
    for name, value in items:
        key = where if isinstance(obj, HooksConfig) and name == "settings" else _join(where, name)  # [hooks.<name>]
        if not name.endswith("_env"):
            yield from _env_keys(value, key)
        elif isinstance(value, str) and value:
            yield key, value
        elif isinstance(value, list):
            yield from ((key, v) for v in value if isinstance(v, str) and v)
        elif isinstance(value, Mapping):
            yield from ((f"{key}.{k}", v) for k, v in value.items() if isinstance(v, str) and v)


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a TOML table, naming the first bad key."""
    if not isinstance(data, dict):
        raise ConfigError(_("%(key)s: expected a table", key=where or "config"))
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name not in _SECTIONS_NOT_FROM_FILE}
    if cls is HooksConfig:
        data = _hook_settings(data, known)
    for key in data:
        if key not in known:
            raise ConfigError(_unknown_key(_join(where, key), key, known))
    kwargs = {key: _coerce(hints[key], value, _join(where, key)) for key, value in data.items()}
    check_limits(where, kwargs)
    return cls(**kwargs)


def _unknown_key(path: str, key: str, known: set[str]) -> str:
    """The line for a key the table does not have: a secret written where its variable's name goes is told where it
    belongs; a misspelt key is shown the one it resembles."""
    if f"{key}_env" in known:
        return _("unknown key '%(key)s': secrets are not written in the config file; put it in an environment variable and write that variable's name in %(env_key)s", key=path, env_key=f"{key}_env")  # fmt: skip
    if close := difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6):
        return _("unknown key '%(key)s' (did you mean '%(close)s'?)", key=path, close=close[0])
    return _("unknown key '%(key)s'", key=path)


def _hook_settings(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Move `[hooks.<name>]` tables of enabled hooks other than the built-in ones into `settings`."""
    enabled = data.get("enabled", [])
    enabled = enabled if isinstance(enabled, list) else []
    if "settings" in data:
        raise ConfigError(_("unknown key '%(key)s' (write [hooks.<name>] tables instead)", key="hooks.settings"))
    settings: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in data.items():
        if key in known:
            rest[key] = value
        elif isinstance(value, dict) and key in enabled:
            settings[key] = value
        elif isinstance(value, dict):
            tables = sorted({*(name for name in enabled if isinstance(name, str)), *(known - {"enabled"})})
            if close := difflib.get_close_matches(key, tables, n=1, cutoff=0.6):  # [hooks.chatwot]
                raise ConfigError(_("unknown key '%(key)s' (did you mean '%(close)s'?)", key=f"hooks.{key}", close=f"hooks.{close[0]}"))  # fmt: skip
            raise ConfigError(_("unknown key '%(key)s' (a settings table for a hook not in [hooks] enabled)", key=f"hooks.{key}"))  # fmt: skip
        else:
            raise ConfigError(_("unknown key '%(key)s'", key=f"hooks.{key}"))
    if settings:
        rest["settings"] = settings
    return rest


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check `value` against the annotation `hint` and convert nested tables."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else _("'%(key)s': wrong type", key=key))
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(_expected_type(key, N_("a table"), value))
        return {k: _coerce(value_type, v, f"{key}.{k}") for k, v in value.items()}
    if origin in (list, tuple):
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(_expected_type(key, N_("a list"), value))
        item_type = args[0] if args else Any
        items = [_coerce(item_type, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return finite(value, key)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    expected = {bool: N_("a boolean"), int: N_("an integer"), float: N_("a number"), str: N_("a string")}.get(hint)
    raise ConfigError(_expected_type(key, expected or str(hint), value))


# What a TOML value is, as the config's errors name it ("'server.port': expected an integer, got string").
_TYPE_NAMES = {
    bool: N_("boolean"), int: N_("integer"), float: N_("float"), str: N_("string"), list: N_("list"), dict: N_("table")
}  # fmt: skip


def _expected_type(key: str, expected: str, value: Any) -> str:
    """`'key': expected <a type>, got <its type>` in the interface language (a marked type name translated)."""
    got = _TYPE_NAMES.get(type(value))
    shown = _(got) if got else type(value).__name__
    return _("'%(key)s': expected %(expected)s, got %(got)s", key=key, expected=_(expected), got=shown)
