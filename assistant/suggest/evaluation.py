"""Measure suggestion quality on labeled sets: top-1/top-3 intent accuracy and customer-type accuracy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.suggest.matcher import Matcher

DEFAULT_INTENTS = Path("tests/data/intents.tsv")
DEFAULT_TYPES = Path("tests/data/types.tsv")
# Messages of a labeled conversation carry no times; space them like a calm chat so rhythm rules stay quiet.
MESSAGE_GAP_MS = 30_000


@dataclass(frozen=True)
class IntentOutcome:
    """One labeled message and what the matcher made of it."""

    label: str
    text: str
    predicted: tuple[str, ...]  # intents of the suggestions, in order

    @property
    def top1(self) -> bool:
        return bool(self.predicted) and self.predicted[0] == self.label

    @property
    def top3(self) -> bool:
        return self.label in self.predicted[:3]


@dataclass(frozen=True)
class TypeOutcome:
    """One labeled conversation and the type the classifier chose."""

    label: str
    messages: tuple[str, ...]
    predicted: str


@dataclass(frozen=True)
class Report:
    """All outcomes of one evaluation run, with the figures derived from them."""

    intents: tuple[IntentOutcome, ...] = ()
    types: tuple[TypeOutcome, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    @property
    def top1(self) -> float:
        return _share(sum(o.top1 for o in self.intents), len(self.intents))

    @property
    def top3(self) -> float:
        return _share(sum(o.top3 for o in self.intents), len(self.intents))

    @property
    def type_accuracy(self) -> float:
        return _share(sum(o.label == o.predicted for o in self.types), len(self.types))

    def confusion(self) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
        """Per labeled intent: (intent, messages, top-1 hits, most frequent wrong top-1 intents)."""
        rows = []
        for label in sorted({o.label for o in self.intents}):
            outcomes = [o for o in self.intents if o.label == label]
            wrong = Counter(o.predicted[0] if o.predicted else "(none)" for o in outcomes if not o.top1)
            rows.append((label, len(outcomes), sum(o.top1 for o in outcomes), wrong.most_common(3)))
        return rows

    def type_confusion(self) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
        """Per labeled type: (type, conversations, hits, most frequent wrong predictions)."""
        rows = []
        for label in sorted({o.label for o in self.types}):
            outcomes = [o for o in self.types if o.label == label]
            wrong = Counter(o.predicted for o in outcomes if o.predicted != label)
            rows.append((label, len(outcomes), sum(o.predicted == label for o in outcomes), wrong.most_common(3)))
        return rows

    def format(self, misses: bool = False) -> str:
        """A plain-text summary: the three figures, then the per-intent confusion table."""
        lines = [
            f"intent top-1 accuracy: {self.top1:6.1%}  ({sum(o.top1 for o in self.intents)}/{len(self.intents)})",
            f"intent top-3 accuracy: {self.top3:6.1%}  ({sum(o.top3 for o in self.intents)}/{len(self.intents)})",
            f"customer-type accuracy: {self.type_accuracy:6.1%}  "
            f"({sum(o.label == o.predicted for o in self.types)}/{len(self.types)})",
            "",
            f"{'intent':<16} {'n':>3} {'top-1':>6}  confused with",
        ]
        for label, n, hits, wrong in self.confusion():
            confused = ", ".join(f"{w}×{c}" for w, c in wrong)
            lines.append(f"{label:<16} {n:>3} {hits / n:>6.0%}  {confused}")
        lines += ["", f"{'type':<16} {'n':>3} {'hit':>6}  confused with"]
        for label, n, hits, wrong in self.type_confusion():
            confused = ", ".join(f"{w}×{c}" for w, c in wrong)
            lines.append(f"{label:<16} {n:>3} {hits / n:>6.0%}  {confused}")
        if self.skipped:
            lines += ["", f"skipped {len(self.skipped)} malformed line(s):"] + [f"  {s}" for s in self.skipped]
        if misses:
            lines += ["", "misses (label → predicted: text):"]
            lines += [f"  {o.label} → {','.join(o.predicted) or '-'}: {o.text}" for o in self.intents if not o.top1]
            lines += [
                f"  {o.label} → {o.predicted}: {' | '.join(o.messages)}" for o in self.types if o.label != o.predicted
            ]
        return "\n".join(lines)


def read_labeled(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, text) pairs of a `label<TAB>text` file, and the lines that were not in that shape."""
    rows: list[tuple[str, str]] = []
    skipped: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, sep, text = line.partition("\t")
        if not sep or not label.strip() or not text.strip():
            skipped.append(f"{path.name}:{n}: {line[:40]}")
            continue
        rows.append((label.strip(), text.strip()))
    return rows, skipped


def evaluate_intents(matcher: Matcher, rows: Sequence[tuple[str, str]]) -> list[IntentOutcome]:
    """Run each labeled message through `matcher.suggest` with no context."""
    out = []
    for label, text in rows:
        predicted = tuple(s.intent for s in matcher.suggest(text))
        out.append(IntentOutcome(label=label, text=text, predicted=predicted))
    return out


def evaluate_types(matcher: Matcher, rows: Sequence[tuple[str, str]]) -> list[TypeOutcome]:
    """Classify each labeled conversation (`msg1 | msg2 | …`), messages spaced MESSAGE_GAP_MS apart."""
    out = []
    for label, text in rows:
        messages = tuple(m.strip() for m in text.split("|") if m.strip())
        timed = [(n * MESSAGE_GAP_MS, m) for n, m in enumerate(messages)]
        out.append(TypeOutcome(label=label, messages=messages, predicted=matcher.classify(timed).type))
    return out


def evaluate(
    matcher: Matcher, intents_path: Path | None = DEFAULT_INTENTS, types_path: Path | None = DEFAULT_TYPES
) -> Report:
    """Evaluate both labeled sets (either may be None or missing) and return the report."""
    skipped: list[str] = []
    intent_rows: list[tuple[str, str]] = []
    type_rows: list[tuple[str, str]] = []
    if intents_path is not None and intents_path.exists():
        intent_rows, bad = read_labeled(intents_path)
        skipped += bad
    if types_path is not None and types_path.exists():
        type_rows, bad = read_labeled(types_path)
        skipped += bad
    return Report(
        intents=tuple(evaluate_intents(matcher, intent_rows)),
        types=tuple(evaluate_types(matcher, type_rows)),
        skipped=tuple(skipped),
    )


def _share(hits: int, total: int) -> float:
    return hits / total if total else 0.0
