"""bench_soak's verdict: a figure without a bound that keeps growing fails the soak; a levelled one, or a
bounded cache filling, does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_soak import Sample, Soak, judge


def _soak(series: dict[str, list[float]], bounds: dict[str, int] | None = None) -> Soak:
    soak = Soak("this code", "http://127.0.0.1:1", 1, Path("unused.db"))
    count = len(next(iter(series.values())))
    soak.samples = [
        Sample(i * 2000, {name: values[i] for name, values in series.items()}, bounds or {}) for i in range(count)
    ]
    return soak


def test_soak_fails_a_map_that_keeps_growing_without_a_bound() -> None:
    growing = [i * 180.0 for i in range(12)]  # 900 per 10,000 events, to the end
    assert judge(_soak({"maps.followups.echoes": growing})) == ["maps.followups.echoes"]


def test_soak_passes_what_levels_off_after_the_warm_up() -> None:
    levelled = [0, 20, 28, 29, 30, 29, 30, 30, 29, 30, 30, 29.0]
    assert judge(_soak({"asyncio_tasks": levelled})) == []


def test_soak_lets_a_bounded_cache_fill_up_to_its_bound_only() -> None:
    filling = [i * 600.0 for i in range(12)]
    assert judge(_soak({"maps.conversations.states": filling}, {"maps.conversations.states": 20_000})) == []
    assert judge(_soak({"maps.conversations.states": filling}, {"maps.conversations.states": 5_000})) == [
        "maps.conversations.states"
    ]


def test_soak_shows_resident_memory_without_judging_it() -> None:
    assert judge(_soak({"rss_mib": [150 + i * 10.0 for i in range(12)]})) == []


def test_soak_shows_memory_before_and_after_the_bounded_maps_filled(capsys: pytest.CaptureFixture[str]) -> None:
    states = [min(i * 4000.0, 20_000) for i in range(12)]  # full from the sixth sample (10,000 events)
    rss = [150 + min(i, 5) * 10.0 for i in range(12)]  # +50 MiB per 10,000 events while it fills, then level
    soak = _soak({"maps.conversations.states": states, "rss_mib": rss}, {"maps.conversations.states": 20_000})
    assert judge(soak) == []
    assert "rss_mib: +50.0 per 10,000 events while the bounded maps filled, +0.0 once the 1 that reached" in (
        capsys.readouterr().out
    )


def test_soak_judges_the_postgresql_sessions_but_only_shows_their_memory() -> None:
    growing = [i * 20.0 for i in range(12)]  # 100 per 10,000 events, to the end
    assert judge(_soak({"pg.sessions": growing, "pg.private_mib": growing, "pg.session_max_mib": growing})) == [
        "pg.sessions"
    ]
