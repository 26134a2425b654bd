"""The report benchmark's database: simulated once, then reused, in whatever language the interface speaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import i18n
from bench import bench_report


@pytest.fixture
def language() -> Iterator[None]:
    before = i18n.current()
    yield
    i18n.use(before)


@pytest.mark.parametrize("shown", ["zh_CN", "en"])
def test_bench_report_reuses_its_database_in_any_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], language: None, shown: str
) -> None:
    # Found: the second run looked for "already" in the refusal, and in Chinese (已在 … 中) the refusal stopped it.
    i18n.use(shown)
    db = tmp_path / "bench.db"
    bench_report._simulate(db, 2, 10)
    assert capsys.readouterr().out.startswith("simulated ")
    bench_report._simulate(db, 2, 10)
    out = capsys.readouterr().out
    assert out.startswith(f"reusing {db} (")
    assert ("已在" in out) == (shown == "zh_CN")
