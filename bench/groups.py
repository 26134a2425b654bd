"""The writer's groups over a benchmark's row: `GET /v1/admin/writer` read before and after, the difference summed."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

Counts = dict[str, Any]


def read_groups(base_url: str) -> Counts | None:
    """The service's group counts now; None from a service without the route (an older checkout)."""
    try:
        with urllib.request.urlopen(f"{base_url}/v1/admin/writer", timeout=10) as resp:
            counts: Counts = json.load(resp)
            return counts
    except urllib.error.HTTPError:
        return None


def minus(after: Counts, before: Counts) -> Counts:
    """The counts between two readings."""
    out: Counts = {name: after[name] - before[name] for name in ("groups", "jobs", "waited_us")}
    for name in ("sizes", "waits_us"):
        out[name] = {k: n - before[name].get(k, 0) for k, n in after[name].items() if n - before[name].get(k, 0)}
    return out


def summed(parts: list[Counts]) -> Counts:
    """Several rounds' counts as one."""
    out: Counts = {"groups": 0, "jobs": 0, "waited_us": 0, "sizes": {}, "waits_us": {}}
    for part in parts:
        for name in ("groups", "jobs", "waited_us"):
            out[name] += part[name]
        for name in ("sizes", "waits_us"):
            for k, n in part[name].items():
                out[name][k] = out[name].get(k, 0) + n
    return out


def _ordered(buckets: dict[str, int]) -> list[tuple[str, int]]:
    """The buckets smallest first (their labels: "<8", "≤4", "≥4097", "1")."""
    return sorted(buckets.items(), key=lambda item: int(item[0].lstrip("<≤≥")))


def _quantile(buckets: dict[str, int], share: float) -> str:
    """The bucket holding the `share` quantile of the counts."""
    total = sum(buckets.values())
    seen = 0
    for label, n in _ordered(buckets):
        seen += n
        if seen >= share * total:
            return label
    return "-"


def describe(counts: Counts, events: int) -> str:
    """One line: groups and jobs per 1,000 events, the groups by size, the jobs' waits for their BEGIN."""
    groups, jobs = counts["groups"], counts["jobs"]
    if not groups or not events:
        return "writer groups: none counted"
    sizes = ", ".join(f"{label} {n / groups:.0%}" for label, n in _ordered(counts["sizes"]))
    waits = counts["waits_us"]
    return (
        f"writer groups: {groups * 1000 / events:.1f} per 1,000 events ({jobs * 1000 / events:,.0f} jobs),"
        f" {jobs / groups:.1f} jobs a group; groups by jobs: {sizes}; a job's wait for its BEGIN:"
        f" mean {counts['waited_us'] / jobs:,.0f} µs, median {_quantile(waits, 0.5)} µs,"
        f" p99 {_quantile(waits, 0.99)} µs"
    )
