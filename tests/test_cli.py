"""The command line: help, config errors, the console script."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from assistant import i18n
from assistant.cli import main
from tests.helpers import ROOT


def test_python_m_assistant_help() -> None:
    out = subprocess.run([sys.executable, "-m", "assistant", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert "serve" in out.stdout


def test_console_script_serve_help() -> None:
    script = Path(sys.executable).with_name("assistant")
    out = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for flag in ("--config", "--db", "--host", "--port"):
        assert flag in out.stdout


def test_cli_config_error_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 'x'\n")
    assert main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "server.port" in err


def test_every_visible_option_has_help() -> None:
    import click

    from assistant.cli.main import cli

    def bare(command: click.Command, path: str) -> list[str]:
        if isinstance(command, click.Group):
            return [m for name, sub in command.commands.items() for m in bare(sub, f"{path} {name}")]
        params = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        return [f"{path} {p.opts[0]}" for p in params if not p.help]

    assert bare(cli, "assistant") == []  # --help listed them with nothing beside them


def test_serve_with_a_misspelt_hook_refuses_before_creating_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[phrases]\npath = "{ROOT / "phrases"}"\n[hooks]\nenabled = ["webhok_out"]\n', encoding="utf-8")
    db = tmp_path / "data" / "assistant.db"
    assert main(["serve", "--config", str(config), "--db", str(db)]) == 2
    assert capsys.readouterr().err.endswith("未知钩子 'webhok_out'（没有模块 hooks/webhok_out.py）\n")
    assert not db.parent.exists()  # nothing created for a config that does not start


def test_serve_with_a_config_typo_says_so_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(i18n, "_current", i18n.current())  # the English run below leaves no English behind
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 8080\n", encoding="utf-8")
    assert main(["serve", "--config", str(bad)]) == 2
    assert capsys.readouterr().err == f"assistant: 配置错误：{bad}：未知的键 'server.prot'（是不是 'port'？）\n"
    bad.write_text('[ui]\nlanguage = "en"\n[server]\nprot = 8080\n', encoding="utf-8")  # an English interface
    assert main(["serve", "--config", str(bad)]) == 2
    assert (
        capsys.readouterr().err == f"assistant: config error: {bad}: unknown key 'server.prot' (did you mean 'port'?)\n"
    )


def test_serve_with_a_broken_phrase_library_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.toml").write_text('[phrases]\npath = "missing"\n', encoding="utf-8")
    assert main(["serve", "--config", str(tmp_path / "c.toml"), "--db", str(tmp_path / "a.db")]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "WARNING" not in line]
    assert len(lines) == 1 and "话术库无法加载" in lines[0] and "missing：没有这个文件或目录" in lines[0]


def test_every_subcommand_has_an_untruncated_help_line(capsys: pytest.CaptureFixture[str]) -> None:
    for group in ([], ["phrases"], ["qa"], ["catalog"], ["followups"], ["store"]):
        assert main([*group, "--help"]) == 0
        listed = capsys.readouterr().out.split("命令：")[1]  # Click's heading, in the CLI's language
        assert listed.strip() and "..." not in listed, group


def test_help_of_commands_and_options_speaks_the_configured_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The commands' and options' own help was English under Chinese headings (用法, 选项, 命令).
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out.split("命令：")[1]
    for line in listed.strip().splitlines():
        name, _, described = line.strip().partition(" ")
        assert re.search(r"[\u4e00-\u9fff]", described), line  # every command described in Chinese
    assert main(["log", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "只看这个客服参与过的会话" in shown and "only conversations this agent" not in shown
    english = tmp_path / "en.toml"
    english.write_text('[ui]\nlanguage = "en"\n', encoding="utf-8")
    assert main(["log", "--help", "--config", str(english)]) == 0  # and back, in one process
    assert "only conversations this agent took part in" in capsys.readouterr().out
    assert main(["log", "--help"]) == 0
    assert "只看这个客服参与过的会话" in capsys.readouterr().out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def errors(out: subprocess.CompletedProcess[str]) -> list[str]:
    """What the command said on stderr, less the service's own log lines."""
    return [line for line in out.stderr.splitlines() if not line[:4].isdigit()]


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database\n")
    for command in (["report", "--date", "2026-11-20"], ["log", "--date", "2026-11-20"], ["followups", "list"]):
        out = run_cli(*command, "--db", str(garbage))
        assert out.returncode == 1 and errors(out) == [
            f"assistant: {garbage} 不是 SQLite 数据库（file is not a database）"
        ], command


def test_a_directory_given_as_the_database_is_named_so(tmp_path: Path) -> None:
    # Found: `--db data` (the folder, not the file) was "not a SQLite database (disk I/O error)".
    for command in (["report", "--date", "2026-11-20"], ["log", "--date", "2026-11-20"], ["followups", "list"]):
        out = run_cli(*command, "--db", str(tmp_path))
        assert out.returncode == 1 and errors(out) == [
            f"assistant: {tmp_path} 是一个目录：--db 要写日志文件本身（如 data/assistant.db）"
        ], command


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (x)")
    before = other.read_bytes()
    items = tmp_path / "items.csv"
    items.write_text("商品ID,标题\n600000000001,T恤\n", encoding="utf-8")
    for command in (
        ["report", "--date", "2026-11-20"],
        ["log", "--date", "2026-11-20"],
        ["followups", "list"],
        ["catalog", "import", str(items)],
    ):
        out = run_cli(*command, "--db", str(other))
        assert out.returncode == 1 and errors(out) == [f"assistant: {other} 是别的程序的数据库，不是本助手的日志库"]
    assert other.read_bytes() == before  # no schema written into it


def test_an_output_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sqlite3.connect(db).close()  # an empty log
    for command, target in (
        (["log", "--date", "2026-11-20"], tmp_path / "no-such-folder" / "day.txt"),
        (["report", "--date", "2026-11-20"], tmp_path),  # a folder
    ):
        out = run_cli(*command, "--db", str(db), "--out", str(target))
        reason = "没有这个文件或目录" if target != tmp_path else "这是一个目录"
        assert out.returncode == 1 and errors(out)[-1] == f"assistant: {target}: {reason}", out.stderr
    # An unmasked file's folder is checked first: it said "No such file or directory", the system's English.
    out = run_cli(
        "buyer", "export", "--customer", "u1", "--db", str(db), "--out", str(tmp_path / "nonexist" / "b1.jsonl")
    )
    assert out.returncode == 1 and errors(out)[-1] == f"assistant: {tmp_path / 'nonexist'}: 没有这个文件或目录", (
        out.stderr
    )


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("serve", "--db", str(tmp_path / "a.db"), "--port", str(port))
    assert out.returncode == 1
    assert errors(out) == [
        f"assistant: 无法在 127.0.0.1:{port} 上监听：地址已被占用（这个端口上是不是已经有别的服务？）"
    ]


def test_serve_on_a_host_that_does_not_resolve_names_the_key(tmp_path: Path) -> None:
    out = run_cli("serve", "--db", str(tmp_path / "a.db"), "--host", "127.0.0.300", "--port", "18099")
    assert out.returncode == 1
    assert errors(out) == ["assistant: [server] host：'127.0.0.300' 不是地址，也不是能解析的主机名"]


def test_a_command_run_where_there_is_no_config_toml_says_it_uses_the_defaults(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sqlite3.connect(db).close()
    command = [sys.executable, "-m", "assistant", "report", "--date", "2026-11-20", "--db", str(db)]
    elsewhere = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120, env=_env_with_root())
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert f"assistant: {tmp_path} 下没有 config.toml，使用内置的默认设置（--config 可以指定配置文件）" in errors(
        elsewhere
    )
    here = run_cli("report", "--date", "2026-11-20", "--db", str(db))
    assert here.returncode == 0 and not any("config.toml" in line for line in errors(here)), here.stderr


def _env_with_root() -> dict[str, str]:
    """This checkout importable from another folder."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}
