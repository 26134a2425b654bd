"""README's quick-start command lines, as a reader pastes them, against the real service."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service import ROOT, Service

pytestmark = pytest.mark.slow
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def commands(after: str) -> list[str]:
    """The command lines of the first ```sh block after the paragraph starting with `after`, a line that
    opens a quote joined with the lines that close it."""
    start = README.index(after)
    block = re.search(r"```sh\n(.*?)```", README[start:], re.S)
    assert block is not None, after
    lines, pending = [], ""
    for line in block.group(1).splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if pending.strip():
            lines.append(pending)
        pending = ""
    return lines


def localize(command: str, service: Service, tmp_path: Path) -> str:
    """The command as it runs here: this service's port, temporary databases, this environment's scripts."""
    command = command.replace("localhost:8080", f"127.0.0.1:{service.port}")
    command = command.replace("data/assistant.db", str(service.db)).replace("data/demo.db", str(tmp_path / "demo.db"))
    command = command.replace(".venv/bin/", f"{BIN}/")
    return command.replace("| less -R", "| head -n 40")


def run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


async def test_readme_try_it_commands_run_against_the_service(tmp_path: Path) -> None:
    service = await Service(ROOT / "config.toml", tmp_path / "assistant.db").start()
    try:
        lines = commands("Try it once `make serve` runs")
        assert len(lines) == 3
        event, suggest, query = (run(localize(c, service, tmp_path)) for c in lines)
        assert event.returncode == 0 and json.loads(event.stdout)["accepted"] == 1, event
        body = json.loads(suggest.stdout)
        assert suggest.returncode == 0 and body["suggestions"][0]["intent"] == "price_bargain", suggest
        assert query.returncode == 0 and "在吗？什么时候发货" in query.stdout, query
    finally:
        service.kill()


def test_readme_supervisor_commands_run(tmp_path: Path) -> None:
    lines = commands("A supervisor's morning")
    assert [shlex.split(c, comments=True)[1] for c in lines] == ["simulate", "report", "log"]
    outputs = []
    for line in lines:
        done = run(localize(line, Service(ROOT / "config.toml", tmp_path / "unused.db"), tmp_path))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done
        outputs.append(done.stdout)
    assert "客服" in outputs[1] and "询单" in outputs[1]  # the table, in the configured language
    assert "顾客" in outputs[2]
