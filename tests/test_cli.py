"""The command line: help, config errors, the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_serve_with_a_broken_phrase_library_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.toml").write_text('[phrases]\npath = "missing"\n', encoding="utf-8")
    assert main(["serve", "--config", str(tmp_path / "c.toml"), "--db", str(tmp_path / "a.db")]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "WARNING" not in line]
    assert len(lines) == 1 and "话术库无法加载" in lines[0] and "missing: not a directory" in lines[0]


def test_every_subcommand_has_an_untruncated_help_line(capsys: pytest.CaptureFixture[str]) -> None:
    for group in ([], ["phrases"], ["qa"], ["catalog"], ["followups"]):
        assert main([*group, "--help"]) == 0
        listed = capsys.readouterr().out.split("Commands:")[1]
        assert listed.strip() and "..." not in listed, group
