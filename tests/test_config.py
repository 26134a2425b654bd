"""config.toml → typed dataclasses; every mistake named in one line."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.cli.click_text import configured_language
from assistant.config import Config, ConfigError, load_config
from assistant.config.checks import LIMITS
from tests.helpers import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    config = load_config(ROOT / "config.toml", env={})
    assert config.server.port == 8080 and config.server.max_batch == 500
    assert config.store.path == "data/assistant.db"
    assert config.webhook.secret_env == "ASSISTANT_WEBHOOK_SECRET"
    assert config.shop.timezone == "Asia/Shanghai"
    assert config.resolve(config.store.path) == ROOT / "data" / "assistant.db"


def test_config_default_delivery_retries_outlast_a_receiver_restart() -> None:
    # Found: the shipped retries spanned 7.5-15 s, and a receiver restarting made every follow-up due `failed`.
    for config in (load_config(None, env={}), load_config(ROOT / "config.toml", env={})):
        f = config.followups
        ceilings = [min(f.backoff_max_s, f.backoff_base_s * 2 ** (n - 1)) for n in range(1, f.max_attempts)]
        assert 90 <= sum(ceilings) / 2 and sum(ceilings) <= 300  # the shortest series, the longest
        assert f.lease_s > f.delivery_timeout_s + f.backoff_max_s


def test_config_defaults_without_file() -> None:
    config = load_config(None, env={})
    assert config.webhook.signature_tolerance_s == 300 and config.webhook.max_text_chars == 5000


def test_config_unknown_key_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"未知的键 'server.prot'"):
        load_config(write(tmp_path, "[server]\nprot = 1\n"), env={})


def test_config_unknown_section_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"未知的键 'servr'"):
        load_config(write(tmp_path, "[servr]\nport = 1\n"), env={})


def test_config_wrong_type_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'server.port'：应为整数，实际是字符串"):
        load_config(write(tmp_path, '[server]\nport = "8080"\n'), env={})


def test_config_bool_is_not_int(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'server.max_batch'"):
        load_config(write(tmp_path, "[server]\nmax_batch = true\n"), env={})


def test_config_bad_timezone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"timezone"):
        load_config(write(tmp_path, '[shop]\ntimezone = "Mars/Olympus"\n'), env={})


@pytest.mark.parametrize(
    ("zone", "said"),
    [
        ("Asia/Shanghia", "（是不是 'Asia/Shanghai'？）"),
        ("Asia/Beijing", "（是不是 'Asia/Shanghai'？）"),  # what shops write for China's time
        ("UTC+8", "（是不是 'Asia/Shanghai'？）"),
        ("Asia/HongKong", "（是不是 'Asia/Hong_Kong'？）"),
        ("Mars/Olympus", "（请写时区数据库里的名字，例如 'Asia/Shanghai'）"),
    ],
)
def test_config_unknown_timezone_is_shown_the_one_it_resembles(tmp_path: Path, zone: str, said: str) -> None:
    # Found: `[shop] timezone：未知时区 'Asia/Beijing'` said nothing of what to write instead.
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, f'[shop]\ntimezone = "{zone}"\n'), env={})
    assert str(refused.value) == f"[shop] timezone：未知时区 '{zone}'{said}"


def test_config_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.toml：不是有效的 TOML："):
        load_config(write(tmp_path, "[server\n"), env={})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[shop.names]\n"yichu" = "衣橱"\n"yichu" = "衣橱时光"\n',
            '第 3 行第 17 列：键 "yichu" 写了两次：同一个表里每个键只能写一次',
        ),
        ("[server]\nport = 8080\nmax_batch = 10\nport = 8081\n", "第 4 行第 12 列：键 port 写了两次"),
        ('[store]\npath = "D:\\shop\\a.db"\n', "第 2 行第 13 列：双引号里的文字有反斜杠 \\：请改用 /（D:/shop）"),
        ("[store]\npath = 'D:\\shop\n", "文件末尾：文字缺少结尾的单引号"),
        ("[phrases]\nvariables = {hours = 1\n", "第 2 行第 23 列：内联表 { … } 缺少结尾的 }"),
        ("[phrases]\nvariables = {a = 1, a = 2}\n", "第 2 行第 26 列：{ … } 里的键 a 写了两次"),
        (
            '[phrases]\nvariables = {a = "1"}\nvariables.b = "2"\n',
            "第 3 行第 18 列：phrases.variables 已经是一个完整的值",
        ),
        ('[store]\npath = "\\u12"\n', "第 2 行第 11 列：\\u 后面要跟 4 位十六进制数字"),
        ("[shop]\nopens = 2026-02-30\n", "第 2 行第 9 列：不是有效的日期或时间"),
        ("[server]\nport = 1\n[store]\n[server]\n", "第 4 行第 8 列：表 [server] 写了两次：请把两处合并成一个"),
        ('[shop]\nname = "本店\n', "第 2 行第 11 列：文字缺少结尾的双引号"),
        ("[shop]\nname = 本店\n", "第 2 行第 8 列：不是有效的 TOML 值：文字要放在双引号里"),
        ("[server]\nport = 8080 8081\n", "第 2 行第 13 列：值的后面同一行还有别的内容"),
    ],
)
def test_config_toml_mistake_says_where_and_what_to_do(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:  # tomllib's English ("Cannot overwrite a value") said neither
        load_config(write(tmp_path, text), env={})
    assert str(refused.value).startswith(f"{tmp_path / 'c.toml'}：不是有效的 TOML：{said}")


def test_config_secrets_come_from_named_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[webhook]\nsecret_env = "MY_SECRET"\n')
    config = load_config(path, env={"MY_SECRET": "s3", "OTHER": "x"})
    assert config.secret("MY_SECRET") == "s3"
    assert config.secret("OTHER") is None
    assert "s3" not in repr(config)


def test_config_secret_in_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"未知的键 'webhook.secret'"):
        load_config(write(tmp_path, '[webhook]\nsecret = "plaintext"\n'), env={})


def test_config_secret_in_file_says_where_it_belongs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, '[webhook]\nsecret = "plaintext"\n'), env={})
    assert str(refused.value) == (
        "未知的键 'webhook.secret'：密钥不写在配置文件里；请把它放进一个环境变量，并在 secret_env 里写这个变量的名字"
    )
    assert "plaintext" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[webhook]\nsecret_env = "{}"\n', "[webhook] secret_env"),
        ('[hooks]\nenabled = ["mine"]\n[hooks.mine]\ntoken_env = "{}"\n', "[hooks.mine] token_env"),
        ('[hooks.chatwoot]\nextra_secrets_env = ["BOT_SECRET", "{}"]\n', "[hooks.chatwoot] extra_secrets_env"),
        ('[hooks.chatwoot.account_tokens_env]\n"3" = "{}"\n', "[hooks.chatwoot.account_tokens_env] 3"),
    ],
)
def test_config_secret_written_as_its_variable_is_refused_unshown(tmp_path: Path, text: str, key: str) -> None:
    secret = "sk-8f3a/9Q+zz=="  # pasted where the variable's name goes: the start logged it ("… is not set")
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text.format(secret)), env={})
    assert str(refused.value).startswith(f"{key}：应为环境变量的名字")
    assert secret not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            '[hooks.dingtalk]\nurl = "https://oapi.dingtalk.com/robot/send?access_token={}"\n',
            "[hooks.dingtalk] url：网址里含有密钥（access_token=…），密钥不写在配置文件里：请写不含它的网址，把密钥放进"
            " [hooks.dingtalk] access_token_env 指定的环境变量",
        ),
        (
            '[hooks.wecom]\nurl = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={}"\n',
            "[hooks.wecom] url：网址里含有密钥（key=…），密钥不写在配置文件里：请写不含它的网址，把密钥放进"
            " [hooks.wecom] key_env 指定的环境变量",
        ),
        (
            '[hooks.webhook_out]\nurl = "https://shop:{}@shop.example.com/followups"\n',
            "[hooks.webhook_out] url：网址里含有密钥（user:…@），密钥不写在配置文件里：请写不含它的网址，把密钥放进"
            " [hooks.webhook_out] secret_env 指定的环境变量",
        ),
        (
            '[hooks]\nenabled = ["mine"]\n[hooks.mine]\nurl = "http://127.0.0.1:9000/send?token={}"\n',
            "[hooks.mine] url：网址里含有密钥（token=…），密钥不写在配置文件里：请写不含它的网址，把密钥放进一个环境变量，"
            "再把变量名写在一个以 _env 结尾的键里（见 docs/hooks.md）",
        ),
        (
            '[hooks]\nenabled = ["mine"]\n[hooks.mine]\ntoken = "{}"\n',
            "[hooks.mine] token：密钥不写在配置文件里；请把它放进一个环境变量，并在 token_env 里写这个变量的名字（钩子用"
            " config.secret 读取它）",
        ),
    ],
)
def test_config_secret_in_a_hook_url_or_table_is_refused_unshown(tmp_path: Path, text: str, line: str) -> None:
    # The robot's address pasted whole from DingTalk or WeCom (the token in it) started with the secret in the file.
    secret = "0123456789abcdef0123456789abcdef"
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text.format(secret)), env={})
    assert str(refused.value) == line
    assert secret not in str(refused.value)


def test_config_hook_urls_without_secrets_load(tmp_path: Path) -> None:
    text = '[hooks]\nenabled = ["mine"]\n[hooks.mine]\nurl = "http://127.0.0.1:9000/send?shop=1"\ntoken_env = "T"\n'
    assert load_config(write(tmp_path, text), env={}).hooks.settings["mine"]["url"].endswith("?shop=1")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[phrases]\ntopk = 3\n", "未知的键 'phrases.topk'（是不是 'top_k'？）"),
        ("[followup]\nenabled = true\n", "未知的键 'followup'（是不是 'followups'？）"),
    ],
)
def test_config_misspelt_key_is_shown_the_key_it_resembles(tmp_path: Path, text: str, line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text), env={})
    assert str(refused.value) == line


@pytest.mark.parametrize(
    ("enabled", "table", "close"),
    [
        ('"chatwoot"', "chatwot", "chatwoot"),
        ('"shop_gateway"', "shop_gatway", "shop_gateway"),
        ("", "webhook-out", "webhook_out"),
    ],
)
def test_config_misspelt_hook_settings_table_is_shown_the_one_it_resembles(
    tmp_path: Path, enabled: str, table: str, close: str
) -> None:
    # Found: [hooks.chatwot] beside enabled = ["chatwoot"] was "a settings table for a hook not in [hooks] enabled".
    text = f"[hooks]\nenabled = [{enabled}]\n[hooks.{table}]\nurl = 'x'\n"
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text), env={})
    assert str(refused.value).endswith(f"未知的键 'hooks.{table}'（是不是 'hooks.{close}'？）"), str(refused.value)


def test_config_overrides_db_path(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": "/tmp/other.db"}})
    assert config.resolve(config.store.path) == Path("/tmp/other.db")


def test_config_hook_settings_table_for_enabled_hook(tmp_path: Path) -> None:
    path = write(tmp_path, '[hooks]\nenabled = ["mine"]\n[hooks.mine]\nurl = "http://x"\ntoken_env = "MINE_TOKEN"\n')
    config = load_config(path, env={"MINE_TOKEN": "t"})
    assert config.hooks.settings == {"mine": {"url": "http://x", "token_env": "MINE_TOKEN"}}
    assert config.secret("MINE_TOKEN") == "t"


def test_config_hook_settings_table_for_disabled_hook_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'hooks.mine'"):
        load_config(write(tmp_path, "[hooks]\nenabled = []\n[hooks.mine]\nurl = 'x'\n"), env={})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-1", r"\[phrases\] workers：必须在 0 到 64 之间，实际是 -1"),
        ("65", r"\[phrases\] workers：必须在 0 到 64 之间，实际是 65"),
        ("true", r"'phrases.workers'：应为整数，实际是布尔值"),
        ("1.5", r"'phrases.workers'：应为整数，实际是小数"),
        ('"2"', r"'phrases.workers'：应为整数，实际是字符串"),
    ],
)
def test_config_bad_workers_named(tmp_path: Path, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, f"[phrases]\nworkers = {value}\n"), env={})


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("loop_share = 1.5", r"\[phrases\] loop_share：必须在 0 到 1 之间，实际是 1.5"),
        ("loop_share = -0.1", r"\[phrases\] loop_share：必须在 0 到 1 之间，实际是 -0.1"),
        ("fleet_reload_wait_s = -1", r"\[phrases\] fleet_reload_wait_s：必须在 0 到 3600 之间，实际是 -1"),
        ("fleet_reload_wait_s = 7200", r"\[phrases\] fleet_reload_wait_s：必须在 0 到 3600 之间，实际是 7200"),
        ('fleet_reload_wait_s = "60"', r"'phrases.fleet_reload_wait_s'：应为数字，实际是字符串"),
    ],
)
def test_config_bad_loop_share_or_fleet_reload_wait_named(tmp_path: Path, setting: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, f"[phrases]\n{setting}\n"), env={})


def test_config_loop_share_and_fleet_reload_wait_defaults_as_the_shipped_file() -> None:
    for config in (load_config(None, env={}), load_config(ROOT / "config.toml", env={})):
        assert (config.phrases.loop_share, config.phrases.fleet_reload_wait_s) == (0.25, 60.0)


def test_config_workers_default_one_and_zero_allowed(tmp_path: Path) -> None:
    assert load_config(None, env={}).phrases.workers == 1
    assert load_config(ROOT / "config.toml", env={}).phrases.workers == 1
    assert load_config(write(tmp_path, "[phrases]\nworkers = 0\n"), env={}).phrases.workers == 0


def test_config_panel_open_hours(tmp_path: Path) -> None:
    assert load_config(None, env={}).panel.open_hours == 24
    assert load_config(write(tmp_path, "[panel]\nopen_hours = 0\n"), env={}).panel.open_hours == 0
    assert load_config(write(tmp_path, "[panel]\nopen_hours = 1.5\n"), env={}).panel.open_hours == 1.5
    with pytest.raises(ConfigError, match=r"\[panel\] open_hours：必须在 0 到 87600 之间，实际是 -1"):
        load_config(write(tmp_path, "[panel]\nopen_hours = -1\n"), env={})


def test_config_port_beyond_65535_is_refused(tmp_path: Path) -> None:
    # The socket would take 99999 modulo 65536 and listen somewhere else than the banner says.
    with pytest.raises(ConfigError, match=r"\[server\] port：必须在 1 到 65535 之间，实际是 99999"):
        load_config(write(tmp_path, "[server]\nport = 99999\n"), env={})


@pytest.mark.parametrize("path", ['""', '["phrases", " "]'])
def test_config_empty_phrase_directory_is_named(tmp_path: Path, path: str) -> None:
    # "" read the config's own folder as the library and blamed the config file's keys
    with pytest.raises(ConfigError, match=r"^\[phrases\] path："):
        load_config(write(tmp_path, f"[phrases]\npath = {path}\n"), env={})


def test_config_phrase_variables_may_not_redefine_built_in_ones(tmp_path: Path) -> None:
    text = '[shop]\nname = "甲店"\n[phrases.variables]\nshop = "乙店"\norder = "ORDER"\ncoupon = "满300减50"\n'
    with pytest.raises(ConfigError, match=r"^\[phrases.variables\]：order、shop "):
        load_config(write(tmp_path, text), env={})
    assert load_config(write(tmp_path, '[phrases.variables]\ncoupon = "满300减50"\n'), env={}).phrases.variables


@pytest.mark.parametrize(
    "url",
    [
        "host=127.0.0.1 port=5432 dbname=assistant user=assistant password=Leak4PW",
        "host=127.0.0.1 dbname=assistant password = Leak4PW",
        "postgresql://assistant:Leak4PW@127.0.0.1/assistant",
        "postgresql://assistant@127.0.0.1/assistant?password=Leak4PW",
    ],
)
def test_config_store_url_with_a_password_is_refused_without_showing_it(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[store\] url.*postgresql://.*\[store\] password_env") as refused:
        load_config(write(tmp_path, f'[store]\nurl = "{url}"\n'), env={})
    assert "Leak4PW" not in str(refused.value)


def test_config_lease_below_an_attempt_and_its_backoff_is_refused_where_instances_share_a_database(
    tmp_path: Path,
) -> None:
    # Two instances then both sent the same follow-up, past max_attempts (6–9 posts where 5 were allowed).
    pg_store = '[store]\nurl = "postgresql://assistant@db.internal/assistant"\n'
    text = "[followups]\nlease_s = 2\ndelivery_timeout_s = 10\nbackoff_max_s = 4\n"
    with pytest.raises(ConfigError, match=r"^\[followups\] lease_s 为 2 秒：.*（10 \+ 4 秒）.*大于 14$"):
        load_config(write(tmp_path, pg_store + text), env={})
    lease = pg_store + text.replace("lease_s = 2", "lease_s = 15")
    assert load_config(write(tmp_path, lease), env={}).followups.lease_s == 15
    # One process on SQLite takes nothing over: a config the previous release accepted (backoff_max_s = 120, the
    # default lease of 90) is not refused over a key the shop never set.
    assert load_config(write(tmp_path, "[followups]\nbackoff_max_s = 120\n"), env={}).followups.backoff_max_s == 120


# ---- numbers: every int and float key finite and within what the code can use ----------------------------------


def number_keys(cls: type = Config, where: str = "") -> Iterator[tuple[str, type, bool]]:
    """(dotted key, int or float, whether its table is a list item) of every number setting under `cls`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, key = hints[f.name], f"{where}.{f.name}" if where else f.name
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            yield from number_keys(hint, key)
        elif isinstance(item, type) and dataclasses.is_dataclass(item):
            yield from ((k, t, True) for k, t, _ in number_keys(item, key))
        elif hint in (int, float):
            yield key, hint, False


NUMBER_KEYS = sorted(number_keys())


def toml_setting(key: str, value: str, listed: bool) -> str:
    table, _, name = key.rpartition(".")
    return f"[[{table}]]\n{name} = {value}\n" if listed else f"[{table}]\n{name} = {value}\n"


def shown(key: str) -> str:
    table, _, name = key.rpartition(".")
    return rf"^\[{table}(\[0\])?\] {name}："


def test_config_every_number_key_has_a_range_its_default_keeps() -> None:
    assert {key for key, _, _ in NUMBER_KEYS} == set(LIMITS)
    defaults = load_config(None, env={})
    for key, _, _ in NUMBER_KEYS:
        value: typing.Any = defaults
        for part in key.split("."):
            value = value[0] if isinstance(value, list) else value
            value = getattr(value, part)
        limit = LIMITS[key]
        assert (limit.low < value if limit.above else limit.low <= value) and value <= limit.high, key


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(("key", "listed"), [(k, listed) for k, t, listed in NUMBER_KEYS if t is float])
def test_config_refuses_a_float_that_is_not_finite(tmp_path: Path, key: str, listed: bool, value: str) -> None:
    # A NaN [server] request_timeout_s never timed a connection out; an infinite [store] busy_timeout_s crashed
    # `serve` (OverflowError) where it became milliseconds.
    with pytest.raises(ConfigError, match=shown(key) + "必须是有限的数，实际是 "):
        load_config(write(tmp_path, toml_setting(key, value, listed)), env={})


@pytest.mark.parametrize(("key", "listed"), [(k, listed) for k, _, listed in NUMBER_KEYS])
def test_config_refuses_a_number_beyond_what_the_code_can_use(tmp_path: Path, key: str, listed: bool) -> None:
    # [kpi] slow_response_s = 10**20 crashed `assistant report` (too large for an SQLite integer); a -1 s
    # [webhook] signature_tolerance_s refused every correctly signed event.
    high = LIMITS[key].high
    for value, written in ((str(10**20), r"(100000000000000000000|1e\+20)"), ("-1", r"-1(\.0)?")):
        with pytest.raises(ConfigError, match=shown(key) + rf"必须.* {high}( 之间)?，实际是 {written}$"):
            load_config(write(tmp_path, toml_setting(key, value, listed)), env={})


def test_config_refuses_an_integer_beyond_any_float_for_a_float_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^\[kpi\] slow_response_s：必须是有限的数，实际是 1000"):
        load_config(write(tmp_path, f"[kpi]\nslow_response_s = {10**400}\n"), env={})


@pytest.mark.parametrize("value", ["0", "-1"])
def test_config_signature_tolerance_must_be_positive(tmp_path: Path, value: str) -> None:
    # 0 s refuses every signature not made within the same second as it is checked
    with pytest.raises(
        ConfigError, match=rf"^\[webhook\] signature_tolerance_s：必须在 1 到 86400 之间，实际是 {value}$"
    ):
        load_config(write(tmp_path, f"[webhook]\nsignature_tolerance_s = {value}\n"), env={})
    assert (
        load_config(write(tmp_path, "[webhook]\nsignature_tolerance_s = 1\n"), env={}).webhook.signature_tolerance_s
        == 1
    )


def test_serve_with_an_infinite_busy_timeout_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[store]\nbusy_timeout_s = inf\n")
    assert main(["serve", "--config", str(path), "--db", str(tmp_path / "a.db")]) == 2
    assert (
        capsys.readouterr().err == f"assistant: 配置错误：{path}：[store] busy_timeout_s：必须是有限的数，实际是 inf\n"
    )


# ---- sections and files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section", [f.name for f in dataclasses.fields(Config) if f.name not in ("secrets", "base_dir")]
)
def test_config_section_given_as_a_value_is_named(tmp_path: Path, section: str) -> None:
    # `store = false` was a TypeError traceback where the command line's --db patches [store]
    path = write(tmp_path, f"{section} = false\n")
    patches: list[dict[str, dict[str, object]]] = [{}, {"store": {"path": "a.db"}, "server": {"port": 8081}}]
    for overrides in patches:
        with pytest.raises(ConfigError, match=rf"^{section}：应为一个表$"):
            load_config(path, env={}, overrides=overrides)


def test_config_that_is_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"：这是一个目录$"):  # IsADirectoryError was a traceback
        load_config(tmp_path, env={})


def test_config_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    # Windows Notepad's "UTF-8 with BOM": refused as "Invalid statement (at line 1, column 1)"
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 8081\n[ui]\nlanguage = "en"\n', encoding="utf-8-sig")
    assert load_config(path, env={}).server.port == 8081
    assert configured_language(["serve", "--config", str(path)]) == "en"


def test_config_not_in_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes('[shop]\nname = "小店"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match=r"c.toml：不是有效的 TOML：不是 UTF-8 文本（第 \d+ 个字节）"):
        load_config(path, env={})


@pytest.mark.parametrize(
    "table",
    ['[shop.names]\n"\u3164" = "甲店"\n', '[shop.names]\nshop1 = "\u3164"\n', '[shop.names]\nshop1 = "\u2800"\n'],
)
def test_config_shop_names_of_fillers_that_show_nothing_are_refused(tmp_path: Path, table: str) -> None:
    # "ㅤ" (HANGUL FILLER) was a shop no event can name, or a `{{ shop }}` that showed buyers nothing
    with pytest.raises(ConfigError, match=r"^\[shop.names\]"):
        load_config(write(tmp_path, table), env={})


@pytest.mark.parametrize("name", ["", "  ", "\u3164"])
def test_config_blank_shop_name_is_refused(tmp_path: Path, name: str) -> None:
    # `{{ shop }}` of every shop without a [shop.names] entry: "欢迎光临{{ shop }}" read "欢迎光临" to buyers
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, f'[shop]\nname = "{name}"\n'), env={})
    assert str(refused.value) == "[shop] name：不能为空"
