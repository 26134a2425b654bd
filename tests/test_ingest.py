"""The ingestor: a batch's annotation shares the event loop with other requests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path

from assistant.events import Event, parse_event
from assistant.ingest import Enrichment, Ingestor
from assistant.writer import Writer
from tests.helpers import make_event


async def _annotation_order(tmp_path: Path, clock: Callable[[], float]) -> list[str]:
    writer = Writer(tmp_path / "i.db")
    ingestor = Ingestor(writer, clock=clock)
    order: list[str] = []

    def annotate(event: Event) -> Enrichment | None:
        order.append(event.id)
        return None

    async def other_request() -> None:
        order.append("other")

    ingestor.annotators.append(annotate)
    events = [parse_event(make_event(id=f"b{i}"), max_text_chars=5000) for i in range(4)]
    batch = asyncio.create_task(ingestor.ingest(events))
    await asyncio.create_task(other_request())
    responses = await batch
    await writer.close()
    assert [r["id"] for r in responses] == ["b0", "b1", "b2", "b3"]
    return order


async def test_ingest_yields_to_other_requests_after_1_ms_of_annotation(tmp_path: Path) -> None:
    ticks = itertools.count(step=0.0006)  # each reading of the clock: 0.6 ms more work
    assert await _annotation_order(tmp_path, lambda: next(ticks)) == ["b0", "b1", "other", "b2", "b3"]


async def test_ingest_annotates_a_quick_batch_in_one_go(tmp_path: Path) -> None:
    assert await _annotation_order(tmp_path, lambda: 0.0) == ["b0", "b1", "b2", "b3", "other"]
