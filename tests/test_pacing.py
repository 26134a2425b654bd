"""Work in a thread beside the event loop hands the GIL over once a slice of time has run, not every so many items."""

from __future__ import annotations

import time

import pytest

from assistant.suggest import pacing
from assistant.suggest.pacing import CHECK, PACE, empty_paced, paced


def clock(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """The pacing's clock, advancing `step` at each look, with a slice of 2."""
    ticks = iter(range(0, 1_000_000_000, step) if step else [0] * 1_000_000)
    monkeypatch.setattr(pacing, "SLICE_S", 2)
    monkeypatch.setattr(pacing, "_now", lambda: next(ticks))


def test_fast_work_keeps_the_gil_until_a_slice_has_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each hand-over is a system call that gives the core away on a busy machine (4 ms each, a third of a
    # 20,000-phrase reload), made every 256 items however little time they took.
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    clock(monkeypatch, 0)
    assert [i for i, _ in paced(range(PACE * 40))] == list(range(PACE * 40))
    empty_paced(list(range(PACE * 40)), dict.fromkeys(range(PACE * 40)))
    assert handed_over == []


def test_slow_work_hands_the_gil_over_once_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    clock(monkeypatch, 1)  # two looks at the clock make a slice: a hand-over every other look
    assert len(list(paced(range(CHECK * 40)))) == CHECK * 40
    assert handed_over == [0] * 20
    handed_over.clear()
    empty_paced(list(range(PACE * 40)))
    assert handed_over == [0] * 20
