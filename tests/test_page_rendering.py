"""Pages are rendered in a worker thread: a page of hundreds of conversations must not hold up the events."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import templating
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
