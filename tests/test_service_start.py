"""The tests' service harness: a start that does not finish in time leaves no process behind (a timed-out
start on a loaded machine left a serving process and its matching workers running past the test run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.service import Service


async def test_a_start_that_times_out_stops_its_process(tmp_path: Path) -> None:
    service = Service(ROOT / "config.toml", tmp_path / "log.db")
    with pytest.raises(AssertionError, match="not met within"):
        await service.start(timeout=0.0)
    assert service.proc is not None
    assert service.proc.poll() is not None  # not running any more


# Run in a process of its own: the project's modules that process compiled from their sources (no bytecode at hand).
_COMPILED_FROM_SOURCE = """
import importlib.machinery, sys
compiled = []
read = importlib.machinery.SourceFileLoader.source_to_code
def recorded(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return read(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = recorded
import assistant.cli.main, assistant.app, assistant.suggest.worker_main
print(len([m for m in sys.modules if m.startswith("assistant")]))
print("\\n".join(path for path in compiled if path.startswith(sys.argv[1])))
"""


def test_a_process_the_tests_start_reads_the_project_compiled() -> None:
    # PYTHONDONTWRITEBYTECODE is set where the suite runs: each service, command and worker it started compiled the
    # project's modules from source again (0.45 s of CPU of a service's 1.2-1.7 s of imports).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _COMPILED_FROM_SOURCE, str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported, *compiled = [line for line in done.stdout.splitlines() if line]
    assert int(imported) > 100  # the whole service was imported
    assert compiled == []
