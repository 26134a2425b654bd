"""Measure suggestion quality on labeled sets.

Intents: top-1/top-3 accuracy, how often a message that fits no intent (`none`) still gets suggestions, how
often a labeled message gets none, how well the confidence is calibrated, and which intents are confused.
Customer types: accuracy on labeled conversations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.i18n import _
from assistant.safetext import format_table
from assistant.suggest.examples import NONE, Example, read_examples, read_text
from assistant.suggest.matcher import Matcher
from assistant.suggest.vocabulary import DEFAULT_TYPE

DEFAULT_INTENTS = Path("tests/data/intents.tsv")
DEFAULT_TYPES = Path("tests/data/types.tsv")
# Messages of a labeled conversation carry no times; by default they are spaced like a calm chat.
MESSAGE_GAP_MS = 30_000


CALIBRATION_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class IntentOutcome:
    """One labeled message and what the matcher made of it (`labels`: every right intent; ("none",) for none)."""

    labels: tuple[str, ...]
    text: str
    predicted: tuple[str, ...]  # intents of the suggestions, in order
    confidence: float = 0.0  # of the first suggestion

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def is_none(self) -> bool:
        return self.labels == ("none",)

    @property
    def top1(self) -> bool:
        return bool(self.predicted) and self.predicted[0] in self.labels

    @property
    def top3(self) -> bool:
        return any(p in self.labels for p in self.predicted[:3])


@dataclass(frozen=True)
class TypeOutcome:
    """One labeled conversation and the type the classifier chose."""

    label: str
    messages: tuple[str, ...]
    predicted: str
    rival: str = ""  # the type shown beside the predicted one in a near tie


@dataclass(frozen=True)
class Report:
    """All outcomes of one evaluation run, with the figures derived from them."""

    intents: tuple[IntentOutcome, ...] = ()
    types: tuple[TypeOutcome, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    gap_ms: int = MESSAGE_GAP_MS  # how far apart the messages of a labeled conversation were sent

    @property
    def labeled(self) -> tuple[IntentOutcome, ...]:
        return tuple(o for o in self.intents if not o.is_none)

    @property
    def unlabeled(self) -> tuple[IntentOutcome, ...]:
        return tuple(o for o in self.intents if o.is_none)

    @property
    def top1(self) -> float:
        """Share of labeled messages whose first suggestion is of a right intent."""
        return _share(sum(o.top1 for o in self.labeled), len(self.labeled))

    @property
    def top3(self) -> float:
        """Share of labeled messages with a right intent among their first three suggestions."""
        return _share(sum(o.top3 for o in self.labeled), len(self.labeled))

    @property
    def none_answered(self) -> float:
        """Share of messages that fit no intent but got suggestions."""
        return _share(sum(bool(o.predicted) for o in self.unlabeled), len(self.unlabeled))

    @property
    def labeled_silent(self) -> float:
        """Share of labeled messages that got no suggestion."""
        return _share(sum(not o.predicted for o in self.labeled), len(self.labeled))

    def calibration(self) -> list[tuple[float, float, int, float, float]]:
        """Reliability table over answered messages: (from, to, messages, mean confidence, share right)."""
        rows = []
        answered = [o for o in self.intents if o.predicted]
        for low, high in zip(CALIBRATION_BINS, CALIBRATION_BINS[1:]):
            inside = [o for o in answered if low <= o.confidence < high or (high == 1.0 and o.confidence == 1.0)]
            if inside:
                mean = sum(o.confidence for o in inside) / len(inside)
                rows.append((low, high, len(inside), mean, sum(o.top1 for o in inside) / len(inside)))
        return rows

    def confusion_pairs(self, limit: int = 10) -> list[tuple[str, str, int]]:
        """The most frequent (right intent, first suggestion) pairs among misses; "(none)" for no suggestion."""
        pairs: Counter[tuple[str, str]] = Counter()
        for o in self.intents:
            if not o.top1 and (o.predicted or not o.is_none):
                pairs[(o.label, o.predicted[0] if o.predicted else "(none)")] += 1
        return [(a, b, n) for (a, b), n in pairs.most_common(limit)]

    @property
    def type_accuracy(self) -> float:
        return _share(sum(o.label == o.predicted for o in self.types), len(self.types))

    @property
    def nondefault_accuracy(self) -> float:
        """Type accuracy on conversations labeled with a type other than the default."""
        typed = [o for o in self.types if o.label != DEFAULT_TYPE]
        return _share(sum(o.label == o.predicted for o in typed), len(typed))

    @property
    def default_accuracy(self) -> float:
        """Type accuracy on conversations labeled with the default type (no clear sign of another)."""
        plain = [o for o in self.types if o.label == DEFAULT_TYPE]
        return _share(sum(o.label == o.predicted for o in plain), len(plain))

    def type_scores(self) -> list[tuple[str, int, int, float, float]]:
        """Per type labeled or predicted: (type, labeled, predicted, recall, precision)."""
        rows = []
        for kind in sorted({o.label for o in self.types} | {o.predicted for o in self.types}):
            labeled = sum(o.label == kind for o in self.types)
            predicted = sum(o.predicted == kind for o in self.types)
            hits = sum(o.label == kind == o.predicted for o in self.types)
            rows.append((kind, labeled, predicted, _share(hits, labeled), _share(hits, predicted)))
        return rows

    def confusion(self) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
        """Per labeled intent: (intent, messages, top-1 hits, most frequent wrong top-1 intents)."""
        rows = []
        for label in sorted({o.label for o in self.labeled}):
            outcomes = [o for o in self.labeled if o.label == label]
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

    def _type_lines(self) -> list[str]:
        """The customer-type part of the summary: accuracy overall, on typed and on default conversations."""
        if not self.types:
            return []
        typed = [o for o in self.types if o.label != DEFAULT_TYPE]
        plain = [o for o in self.types if o.label == DEFAULT_TYPE]
        head = _("customer types: %(n)s conversations, messages %(gap)s s apart", n=len(self.types), gap=f"{self.gap_ms / 1000:g}")  # fmt: skip
        figures = _figures(
            [
                (
                    _("non-default accuracy:"),
                    self.nondefault_accuracy,
                    sum(o.label == o.predicted for o in typed),
                    len(typed),
                ),  # fmt: skip
                (_("default accuracy:"), self.default_accuracy, sum(o.label == o.predicted for o in plain), len(plain)),
            ],
            indent="  ",
        )
        ties = [o for o in self.types if o.rival]
        if ties:
            lead, other = sum(o.label == o.predicted for o in ties), sum(o.label == o.rival for o in ties)
            figures.append("  " + _("near ties shown as two types: %(n)s (the leading one right: %(lead)s, the other: %(other)s)", n=len(ties), lead=lead, other=other))  # fmt: skip
        table = [[_("type"), "n", _("recall"), _("said"), _("precision"), _("confused with")]]
        confusion = {label: wrong for label, _n, _hits, wrong in self.type_confusion()}
        for kind, labeled, predicted, recall, precision in self.type_scores():
            confused = ", ".join(f"{w}×{c}" for w, c in confusion.get(kind, []))
            shown_recall = f"{recall:.0%}" if labeled else "-"
            shown_precision = f"{precision:.0%}" if predicted else "-"
            table.append([kind, str(labeled), shown_recall, str(predicted), shown_precision, confused])
        return ["", head, *figures, "", format_table(table, right={1, 2, 3, 4}, rule=False)]

    def format(self, misses: bool = False) -> str:
        """A plain-text summary: the figures, calibration, confusion pairs, then the per-intent and type tables."""
        lines: list[str] = []
        if self.intents:
            lines += self._format_intents()
        if self.types:
            right = sum(o.label == o.predicted for o in self.types)
            lines += _figures([(_("customer-type accuracy:"), self.type_accuracy, right, len(self.types))])
        lines += self._type_lines()
        if self.types:
            lines.append("")
        if self.skipped:
            lines += [_("skipped %(n)s line(s), malformed or with a label the library does not know:", n=len(self.skipped))]  # fmt: skip
            lines += [f"  {s}" for s in self.skipped]
        if misses:
            lines += [_("misses (labels → predicted: text):")]
            lines += [
                f"  {'|'.join(o.labels)} → {','.join(o.predicted) or '-'}: {o.text}"
                for o in self.intents
                if (o.is_none and o.predicted) or (not o.is_none and not o.top1)
            ]
            lines += [
                f"  {o.label} → {o.predicted}{'/' + o.rival if o.rival else ''}: {' | '.join(o.messages)}"
                for o in self.types
                if o.label != o.predicted
            ]
        return "\n".join(lines).rstrip()

    def _format_intents(self) -> list[str]:
        labeled, unlabeled = self.labeled, self.unlabeled
        figures = [
            (_("intent top-1 accuracy:"), self.top1, sum(o.top1 for o in labeled), len(labeled)),
            (_("intent top-3 accuracy:"), self.top3, sum(o.top3 for o in labeled), len(labeled)),
            (_("labeled left silent:"), self.labeled_silent, sum(not o.predicted for o in labeled), len(labeled)),
        ]
        if unlabeled:
            answered = sum(bool(o.predicted) for o in unlabeled)
            figures.append((_("none answered:"), self.none_answered, answered, len(unlabeled)))
        lines = [
            *_figures(figures),
            "",
            _("calibration (first suggestion; a 'none' message answered counts as wrong):"),
        ]
        table = [[_("confidence"), "n", _("mean"), _("right")]]
        table += [[f"{lo:.1f}–{hi:.1f}", str(n), f"{m:.2f}", f"{r:.2f}"] for lo, hi, n, m, r in self.calibration()]
        lines.append(format_table(table, right={1, 2, 3}, rule=False))
        pairs = self.confusion_pairs()
        if pairs:
            lines += ["", _("most frequent confusions (right → suggested):")]
            lines += [f"  {a} → {b} ×{n}" for a, b, n in pairs]
        table = [[_("intent"), "n", _("top-1"), _("confused with")]]
        for label, n, hits, wrong in self.confusion():
            table.append([label, str(n), f"{hits / n:.0%}", ", ".join(f"{w}×{c}" for w, c in wrong)])
        return [*lines, "", format_table(table, right={1, 2}, rule=False), ""]


def _figures(rows: Sequence[tuple[str, float, int, int]], indent: str = "") -> list[str]:
    """Named shares with their counts, lined up: `label:  91.1%  (275/303)`."""
    table = [[label, f"{share:.1%}", f"({hits}/{n})"] for label, share, hits, n in rows]
    return [indent + line for line in format_table(table, right={1}, rule=False).split("\n")]


def read_labeled(path: Path, known: set[str] | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, text) pairs of a `label<TAB>text` file, and the lines that were not in that shape (or, with
    `known`, whose label is not one of them), each named by its line."""
    rows: list[tuple[str, str]] = []
    skipped: list[str] = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, sep, text = line.partition("\t")
        if not sep or not label.strip() or not text.strip():
            skipped.append(f"{path.name}:{n}: {line[:40]}")
            continue
        if known is not None and label.strip() not in known:
            skipped.append(_("%(where)s: unknown type %(label)s", where=f"{path.name}:{n}", label=label.strip()))
            continue
        rows.append((label.strip(), text.strip()))
    return rows, skipped


def evaluate_intents(matcher: Matcher, rows: Sequence[Example | tuple[str, str]]) -> list[IntentOutcome]:
    """Run each labeled message through `matcher.suggest` with no context."""
    out = []
    for row in rows:
        labels, text = (row.labels, row.text) if isinstance(row, Example) else (tuple(row[0].split("|")), row[1])
        suggestions = matcher.suggest(text)
        predicted = tuple(s.intent for s in suggestions)
        confidence = suggestions[0].confidence if suggestions else 0.0
        out.append(IntentOutcome(labels=labels, text=text, predicted=predicted, confidence=confidence))
    return out


def evaluate_types(
    matcher: Matcher, rows: Sequence[tuple[str, str]], gap_ms: int = MESSAGE_GAP_MS
) -> list[TypeOutcome]:
    """Classify each labeled conversation (`msg1 | msg2 | …`), messages sent `gap_ms` apart.

    The agent's replies are not part of a labeled set: the classifier is told they are unknown.
    """
    out = []
    for label, text in rows:
        messages = tuple(m.strip() for m in text.split("|") if m.strip())
        timed = [(n * gap_ms, m) for n, m in enumerate(messages)]
        kind = matcher.classify(timed)
        out.append(TypeOutcome(label=label, messages=messages, predicted=kind.type, rival=kind.rival))
    return out


def evaluate(
    matcher: Matcher,
    intents_path: Path | None = DEFAULT_INTENTS,
    types_path: Path | None = DEFAULT_TYPES,
    gap_ms: int = MESSAGE_GAP_MS,
) -> Report:
    """Evaluate both labeled sets (either may be None or missing) and return the report."""
    skipped: list[str] = []
    intent_rows: list[Example] = []
    type_rows: list[tuple[str, str]] = []
    if intents_path is not None and intents_path.exists():
        intent_rows, bad = read_examples(intents_path)
        skipped += bad
    if types_path is not None and types_path.exists():
        type_rows, bad = read_labeled(types_path, set(matcher.library.customer_types))
        skipped += bad
    # A label the library does not know (a typo, an intent since renamed) would count as a miss: left out, said.
    intents = set(matcher.library.intents) | {NONE}
    unknown = [r for r in intent_rows if not set(r.labels) <= intents]
    skipped += [_("%(where)s: unknown label %(label)s", where=r.where, label="|".join(r.labels)) for r in unknown]
    intent_rows = [r for r in intent_rows if set(r.labels) <= intents]
    return Report(
        intents=tuple(evaluate_intents(matcher, intent_rows)),
        types=tuple(evaluate_types(matcher, type_rows, gap_ms)),
        skipped=tuple(skipped),
        gap_ms=gap_ms,
    )


def _share(hits: int, total: int) -> float:
    return hits / total if total else 0.0
