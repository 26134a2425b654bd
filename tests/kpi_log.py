"""Hand-built interaction logs for the KPI tests: events at local times around one day D."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant import store, upgrade
from assistant.config import Config, load_config
from assistant.events import parse_event
from assistant.kpi import metrics

D = date(2026, 11, 20)
TZ = ZoneInfo("Asia/Shanghai")
SHOP = "s1"


def ts(when: str) -> str:
    """'10:00:05' (or '10:00:05.5') on D, or 'D+1 09:00', 'D-1 23:59:30' → ISO 8601 with the offset."""
    day = D
    if " " in when:
        rel, when = when.split(" ", 1)
        day = D + timedelta(days=int(rel[1:] or 0))
    parts = when.split(":")
    hour, minute = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    seconds = float(parts[2]) if len(parts) > 2 else 0.0
    return (datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ) + timedelta(seconds=seconds)).isoformat()


def ms(when: str) -> int:
    return int(datetime.fromisoformat(ts(when)).timestamp() * 1000)


class Log:
    """A temporary interaction log; each call logs one event through store.insert_event."""

    def __init__(self, path: store.Location, config: Config | None = None) -> None:
        self.path = path
        self.config = config or load_config(None, env={})
        self.conn = store.connect(path)
        upgrade.migrate(self.conn)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self.conn.close()

    def event(
        self,
        type: str,
        when: str | int,
        annotation: store.Annotation | None = None,
        *,
        unchecked_agent: str | None = None,
        **fields: Any,
    ) -> None:
        """Log one event. `unchecked_agent`: an agent name the webhook now refuses (control characters), as a log
        written before it did holds them, for the outputs' own guards."""
        raw: dict[str, Any] = {
            "id": f"e{next(self._ids)}",
            "type": type,
            "ts": when if isinstance(when, int) or "T" in when else ts(when),
            "shop": SHOP,
            "conversation": "c1",
            "customer": "u1",
        }
        raw.update({k: v for k, v in fields.items() if v is not None})
        event = parse_event(raw, max_text_chars=5000)
        if unchecked_agent is not None:
            event = dataclasses.replace(event, agent=unchecked_agent)
        with store.transaction(self.conn):
            store.insert_event(self.conn, event, annotation)

    def customer(
        self, when: str | int, text: str = "在吗？", *, suggestions: Sequence[str] = (), **fields: Any
    ) -> None:
        shown = tuple({"phrase_id": p, "code": p[:2], "score": 90.0} for p in suggestions)
        self.event("message", when, store.Annotation(suggestions=shown), sender="customer", text=text, **fields)

    def agent(self, when: str | int, agent: str, text: str = "亲，在的呢，请问有什么可以帮您？", **fields: Any) -> None:
        self.event("message", when, sender="agent", agent=agent, text=text, **fields)

    def auto(self, when: str | int, text: str = "亲，还在考虑吗？", **fields: Any) -> None:
        self.event("message", when, sender="auto", text=text, **fields)

    def order(self, when: str | int, order: str, amount: float, **fields: Any) -> None:
        self.event("order_created", when, order=order, amount=amount, **fields)

    def paid(self, when: str | int, order: str, amount: float, **fields: Any) -> None:
        self.event("order_paid", when, order=order, amount=amount, **fields)

    def used(self, when: str | int, agent: str, phrase: str = "greeting.welcome", **fields: Any) -> None:
        self.event("suggestion_used", when, agent=agent, phrase_id=phrase, **fields)

    def reports(
        self,
        first: date = D,
        last: date | None = None,
        *,
        now: int | None = None,
        shop: str | None = SHOP,
        parallel: bool = False,
        config: Config | None = None,
    ) -> list[metrics.ShopReport]:
        """Reports over read-only connections; `now` defaults to a day after the period is final."""
        end = last or first
        now = now if now is not None else metrics.final_ms(end, config or self.config) + 86_400_000
        return metrics.build_reports(
            lambda: store.connect(self.path, readonly=True),
            config or self.config,
            first,
            last,
            shop=shop,
            now_ms=now,
            parallel=parallel,
        )

    def report(self, day: date = D, **kwargs: Any) -> metrics.ShopReport:
        found = self.reports(day, **kwargs)
        assert len(found) == 1, found
        return found[0]

    def metrics(self, agent: str, day: date = D, **kwargs: Any) -> dict[str, Any]:
        """One agent's metrics of the day (all zero when the agent has none)."""
        r = self.report(day, **kwargs)
        for row in r.agents:
            if row.agent == agent:
                return row.metrics
        return metrics.metrics(metrics.Tally(), self.config.kpi, agent=agent)
