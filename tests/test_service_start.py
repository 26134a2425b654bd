"""The tests' service harness: a start that does not finish in time leaves no process behind (a timed-out
start on a loaded machine left a serving process and its matching workers running past the test run)."""

from __future__ import annotations

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
