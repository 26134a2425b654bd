"""`make bench`: every benchmark in turn (none of them is part of `make test`)."""

from __future__ import annotations

import importlib
import sys

MODULES = [
    "bench_webhook", "bench_matcher", "bench_qa", "bench_timers", "bench_report", "bench_daylog", "bench_panel",
    "bench_catalog", "bench_chatwoot", "bench_scaling", "bench_reload", "bench_holds", "bench_calls",
    "bench_conversations", "bench_backlog", "bench_workers", "bench_qianniu", "bench_wal", "bench_qa_day", "bench_soak",
    "bench_pipe", "bench_qa_recent", "bench_wal_held", "bench_parse", "bench_pages", "bench_dayreads", "bench_start",
]  # fmt: skip


def main() -> int:
    wanted = sys.argv[1:] or MODULES
    for name in wanted:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"(skipping {name}: {exc})")
            continue
        module.main()
        print()
    return 0


raise SystemExit(main())
