"""The command line: help, config errors, the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
