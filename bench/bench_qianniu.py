"""A team's Qianniu export imported (and a library that size exported): the cost per row as the table grows, and
the memory the import adds.

    python -m bench bench_qianniu                 (BENCH_ROWS=10000: the large table; the small one is a tenth)

Each table holds the shipped library's answers in 30 agents' signed copies (every text distinct), read from a
.csv as `phrases import` reads it, half of the rows without a code (the import makes one). Both tables are
imported in this run with the same matcher: the cost per row of the large one over the small one's is the
ratio to watch (an import that grows with the square of its rows shows it at once, however loaded the machine).
The same tables are then written back as .xlsx (`phrases export --out x.xlsx`), the same ratio for it.
Targets: the per-row ratios ≤ 1.5; the import adds ≤ 150 MiB of resident memory at BENCH_ROWS rows.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from pathlib import Path

from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import ASSISTANT_INTENTS, Library
from assistant.suggest.qianniu import import_rows, read_table, write_table

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("BENCH_ROWS", "10000"))
AGENTS = 30


def table(library: Library, n: int, path: Path) -> Path:
    """`n` rows: each shipped answer (plain text, suggested to buyers) as the agents copied it, signed."""
    answers = [p for p in library.phrases if p.intent not in ASSISTANT_INTENTS and "{" not in p.text]
    rows = [["分组", "快捷编码", "快捷短语"]]
    for i in range(n):
        p, copy = answers[i % len(answers)], i // len(answers)
        signed = f"{p.text.rstrip('~。！')}{'哦' if copy % 2 else ''}~（客服{copy % AGENTS}号·{copy}）"
        rows.append([p.group, f"q{i}" if i % 2 else "", signed])
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _import(matcher: Matcher, path: Path) -> tuple[float, int, int]:
    """CPU seconds of reading and importing the table, the phrases imported, the resident memory added."""
    before = _rss()
    started = time.process_time()
    result = import_rows(read_table(path), matcher)
    return time.process_time() - started, len(result.phrases), _rss() - before


def main() -> None:
    library = Library.load(ROOT / "phrases")
    matcher = Matcher(library)
    print(f"Qianniu import ({AGENTS} agents' copies of the shipped answers; half the rows without a code)")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    small_n = max(1, ROWS // 10)
    with tempfile.TemporaryDirectory() as tmp:
        small = _import(matcher, table(library, small_n, Path(tmp) / "small.csv"))
        large = _import(matcher, table(library, ROWS, Path(tmp) / "large.csv"))
        for n, (seconds, imported, added) in ((small_n, small), (ROWS, large)):
            print(
                f"  {n:>6,} rows: {seconds:6.2f} s CPU, {seconds / n * 1000:.2f} ms per row, {imported:,} phrases;"
                f" resident memory +{added / 2**20:.0f} MiB"
            )
        ratio = (large[0] / ROWS) / (small[0] / small_n)
        verdict = "ok" if ratio <= 1.5 and large[2] <= 150 * 2**20 else "OVER TARGET"
        print(f"  per-row cost, {ROWS:,} rows over {small_n:,}: {ratio:.2f} (target ≤ 1.5); {verdict}")
        written = [_export(Path(tmp) / f"{n}.csv", Path(tmp) / f"{n}.xlsx") for n in ("small", "large")]
    ratio = (written[1] / ROWS) / (written[0] / small_n)
    verdict = "ok" if ratio <= 1.5 else "OVER TARGET"
    print(
        f"  export to .xlsx: {written[0]:.2f} s and {written[1]:.2f} s CPU; per-row cost ratio {ratio:.2f}; {verdict}"
    )


def _export(source: Path, out: Path) -> float:
    """CPU seconds of writing the rows of `source` as a workbook."""
    rows = read_table(source)
    started = time.process_time()
    write_table(rows, out)
    return time.process_time() - started


if __name__ == "__main__":
    main()
