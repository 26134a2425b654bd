"""bench_reload's library: the shipped one, with the synthetic phrases asked for beside it in files of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import load_config
from bench import bench_reload
from tests.helpers import ROOT


def test_the_library_without_synthetic_phrases_is_the_shipped_one(tmp_path: Path) -> None:
    # BENCH_PHRASES unset (0): the copy failed (a range of step 0), and with it the benchmark's default run.
    library = bench_reload._library(tmp_path)
    assert sorted(p.name for p in library.glob("*.toml")) == sorted(p.name for p in (ROOT / "phrases").glob("*.toml"))


def test_synthetic_phrases_are_spread_over_the_files_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_reload, "PHRASES", 30)
    monkeypatch.setattr(bench_reload, "FILES", 4)
    library = bench_reload._library(tmp_path)
    files = sorted(library.glob("synthetic*.toml"))
    assert len(files) == 4
    assert sum(f.read_text(encoding="utf-8").count("[[phrase]]") for f in files) == 30


def test_no_follow_up_comes_due_during_a_row(tmp_path: Path) -> None:
    # The fill armed a follow-up in each of its 20,000 conversations at once, due 300 s later: at a load average of
    # 19-23 the fill took minutes, they came due among the reloads and every event waited behind them on the writer.
    config = load_config(bench_reload._config(tmp_path, "this"))
    assert config.phrases.workers == 1
    assert config.followups.idle_seconds >= 3600  # far past any row's length
