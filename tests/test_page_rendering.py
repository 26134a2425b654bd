"""Pages are rendered in a worker thread: a page of hundreds of conversations must not hold up the events."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import i18n, templating
from tests.helpers import make_event

Client = TestClient  # type: ignore[type-arg]


@pytest.mark.parametrize(
    ("path", "template"),
    [("/panel?agent=小美", "panel.html"), ("/logs/daily?date=2026-11-20", "daylog.html"), ("/qa", "qa.html")],
)
async def test_pages_are_rendered_off_the_event_loop(
    client: Client, path: str, template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    rendered_in: list[tuple[str, int]] = []
    render = templating.render

    def watched(name: str, language: str = templating.i18n.DEFAULT_LANGUAGE, **context: Any) -> str:
        rendered_in.append((name, threading.get_ident()))
        return render(name, language, **context)

    monkeypatch.setattr(templating, "render", watched)
    for event in (
        make_event(sender="customer", text="在吗？发什么快递", agent="小美"),
        make_event(sender="agent", text="亲，默认中通哦", agent="小美"),
    ):
        assert (await client.post("/v1/events", json=event)).status == 200
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert [name for name, _ in rendered_in] == [template]
    assert all(thread != loop_thread for _, thread in rendered_in), rendered_in


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(29.6, "29秒"), (59.6, "59秒"), (60.0, "1分00秒"), (80.7, "1分20秒"), (119.9, "1分59秒"), (3599.9, "59分59秒")],
)
def test_durations_are_cut_to_the_second_the_same_way_on_both_sides_of_a_minute(seconds: float, shown: str) -> None:
    # A reply after 59.6 s was "60秒" (rounded, not slow) while one after 60.4 s was "1分00秒 慢" (cut):
    # one duration, two units, and a minute shown for a reply that met the 60 s target.
    assert templating.duration(seconds, i18n.translator("zh_CN")) == shown
