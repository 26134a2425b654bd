"""How well the rules do on a labeled set: precision and recall per category, false alarms on ordinary replies.

A set is TSV: `side <TAB> labels <TAB> text`, labels a "|"-joined list of categories or `none`; lines
starting with "#" are comments. `short` is a definition, not a judgement, and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assistant.i18n import _
from assistant.qa.inspector import SHORT, Inspector
from assistant.qa.rules import SIDES
from assistant.safetext import format_table


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

    def lines(self, labels: Mapping[str, str] | None = None) -> list[str]:
        """A readable summary in the command line's language, one category per line (`labels`: its names)."""
        names = labels or {}
        rows = [[_("Category"), _("Precision"), _("Recall"), _("Hits"), _("False alarms"), _("Missed")]]
        for name, s in sorted(self.scores.items()):
            rows.append(
                [names.get(name, name), _pct(s.precision), _pct(s.recall)]
                + [str(n) for n in (s.true_positives, s.false_positives, s.false_negatives)]
            )
        out = format_table(rows, right=range(1, 6), rule=False).splitlines()
        out.append(
            _(
                "false alarms on ordinary agent replies: %(rate)s (%(alarms)s of %(replies)s); %(lines)s lines",
                rate=_pct(self.false_alarm_rate),
                alarms=self.false_alarms,
                replies=self.ordinary_agent,
                lines=self.examples,
            )
        )
        return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


class MalformedLine(ValueError):
    """A line of a labeled set that is not `side <TAB> labels <TAB> text`."""

    def __init__(self, path: Path, number: int, raw: str) -> None:
        self.path, self.number, self.raw = path, number, raw
        super().__init__(f"{path}:{number}: expected side<TAB>labels<TAB>text, got {raw!r}")

    def said(self) -> str:
        """The problem in the command line's language."""
        return _("%(where)s: expected side<TAB>labels<TAB>text, got %(line)s", where=f"{self.path}:{self.number}", line=repr(self.raw))  # fmt: skip


def read_examples(path: Path) -> list[Example]:
    """The labeled lines of a TSV file; a malformed line raises ValueError naming it."""
    examples = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 3 or parts[0] not in SIDES or not parts[2].strip():
            raise MalformedLine(path, number, raw)
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
