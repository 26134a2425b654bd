"""config.toml → typed dataclasses; every mistake named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import ConfigError, load_config
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


def test_config_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c.toml：不是有效的 TOML："):
        load_config(write(tmp_path, "[server\n"), env={})


def test_config_secrets_come_from_named_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[webhook]\nsecret_env = "MY_SECRET"\n')
    config = load_config(path, env={"MY_SECRET": "s3", "OTHER": "x"})
    assert config.secret("MY_SECRET") == "s3"
    assert config.secret("OTHER") is None
    assert "s3" not in repr(config)


def test_config_secret_in_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"未知的键 'webhook.secret'"):
        load_config(write(tmp_path, '[webhook]\nsecret = "plaintext"\n'), env={})


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


def test_config_workers_default_one_and_zero_allowed(tmp_path: Path) -> None:
    assert load_config(None, env={}).phrases.workers == 1
    assert load_config(ROOT / "config.toml", env={}).phrases.workers == 1
    assert load_config(write(tmp_path, "[phrases]\nworkers = 0\n"), env={}).phrases.workers == 0


def test_config_panel_open_hours(tmp_path: Path) -> None:
    assert load_config(None, env={}).panel.open_hours == 24
    assert load_config(write(tmp_path, "[panel]\nopen_hours = 0\n"), env={}).panel.open_hours == 0
    assert load_config(write(tmp_path, "[panel]\nopen_hours = 1.5\n"), env={}).panel.open_hours == 1.5
    with pytest.raises(ConfigError, match=r"\[panel\] open_hours：必须为 0（不限）或更大，实际是 -1"):
        load_config(write(tmp_path, "[panel]\nopen_hours = -1\n"), env={})


def test_config_port_beyond_65535_is_refused(tmp_path: Path) -> None:
    # The socket would take 99999 modulo 65536 and listen somewhere else than the banner says.
    with pytest.raises(ConfigError, match=r"\[server\] port：不能超过 65535，实际是 99999"):
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
