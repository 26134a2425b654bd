"""How well the rules do on a labeled set: precision and recall per category, false alarms on ordinary replies.

A set is TSV: `side <TAB> labels <TAB> text`, labels a "|"-joined list of categories or `none`; lines
starting with "#" are comments. `short` is a definition, not a judgement, and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.qa.inspector import SHORT, Inspector
from assistant.qa.rules import SIDES


@dataclass(frozen=True)
class Example:
    side: str
    labels: frozenset[str]
    text: str
    line: int


@dataclass
class Score:
    """Counts for one category."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else None


@dataclass
class Evaluation:
    """The figures of one labeled set, and the lines the rules got wrong."""

    examples: int = 0
    scores: dict[str, Score] = field(default_factory=dict)
    ordinary_agent: int = 0  # agent lines labeled none
    false_alarms: int = 0  # of those, lines with any flag
    mistakes: list[tuple[Example, frozenset[str]]] = field(default_factory=list)

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.ordinary_agent if self.ordinary_agent else None

    def lines(self) -> list[str]:
        """A readable summary, one category per line."""
        out = [f"{'category':<14} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}"]
        for name, s in sorted(self.scores.items()):
            out.append(
                f"{name:<14} {_pct(s.precision):>9} {_pct(s.recall):>7} "
                f"{s.true_positives:>4} {s.false_positives:>4} {s.false_negatives:>4}"
            )
        out.append(
            f"false alarms on ordinary agent replies: {_pct(self.false_alarm_rate)}"
            f" ({self.false_alarms} of {self.ordinary_agent}); {self.examples} lines"
        )
        return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def read_examples(path: Path) -> list[Example]:
    """The labeled lines of a TSV file; a malformed line raises ValueError naming it."""
    examples = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 3 or parts[0] not in SIDES or not parts[2].strip():
            raise ValueError(f"{path}:{number}: expected side<TAB>labels<TAB>text, got {raw!r}")
        labels = frozenset() if parts[1] == "none" else frozenset(parts[1].split("|"))
        examples.append(Example(parts[0], labels, parts[2], number))
    return examples


def evaluate(inspector: Inspector, examples: Iterable[Example]) -> Evaluation:
    """Score the inspector's categories against the labels, line by line."""
    result = Evaluation()
    categories = [c for c in inspector.categories if c != SHORT.name]
    for name in categories:
        result.scores[name] = Score()
    for example in examples:
        result.examples += 1
        found = frozenset(f.category for f in inspector.inspect(example.text, example.side)) - {SHORT.name}
        for name in categories:
            score = result.scores[name]
            if name in found and name in example.labels:
                score.true_positives += 1
            elif name in found:
                score.false_positives += 1
            elif name in example.labels:
                score.false_negatives += 1
        if example.side == "agent" and not example.labels:
            result.ordinary_agent += 1
            result.false_alarms += bool(found)
        if found != example.labels:
            result.mistakes.append((example, found))
    return result
