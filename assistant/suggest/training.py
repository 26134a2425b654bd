"""Training the learned scorer (scikit-learn) from the library's triggers and examples; its fingerprint.

`assistant phrases train` runs `train` and writes `scorer.npz` beside the library. Training is deterministic
(the same library gives the same file), so the file is kept with the library and checked against it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.i18n import _
from assistant.suggest.examples import NONE
from assistant.suggest.phrases import ASSISTANT_INTENTS, Library
from assistant.suggest.scorer import FEATURE_VERSION, SCORER_FILE, Features, Scorer, ScorerError, scorer_path

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the matcher imports only `load_scorer` of the trainer (scikit-learn is imported to train)
    from assistant.suggest.matcher import Matcher

C = 2.0  # inverse regularization: 2 and 4 cross-validate alike on the examples; 2 holds better on real wording
SECOND_LABEL_WEIGHT = 0.5  # an example's other right answers teach the model a little too
FOLDS = 5  # cross-validation folds for calibrating the probabilities
MIN_WEIGHT = 0.02  # features whose weights all stay below this are left out of the file
CLASS_WEIGHT: str | None = "balanced"  # every intent counts alike, however many examples it has


@dataclass(frozen=True)
class Item:
    """One training message: its label, text, weight and group (a phrase or an example file's line)."""

    label: str
    text: str
    weight: float
    group: str


@dataclass(frozen=True)
class Outcome:
    """A trained scorer and what training measured."""

    scorer: Scorer
    items: int
    features: int
    folds_top1: float  # top-1 accuracy of the cross-validated models on the held-out folds
    temperature: float


def scorer_problem(library: Library) -> str | None:
    """What is wrong with the library's `scorer.npz` when it has one that cannot be read (truncated, not a
    scorer, made for other features), else None: a missing scorer is a way to run, a broken one a mistake."""
    path = scorer_path(library.directory, library.layers)
    if path is None or not path.exists():
        return None
    try:
        Scorer.load(path)
    except ScorerError as exc:
        return str(exc)
    return None


def fingerprint(library: Library) -> str:
    """A digest of everything the scorer learns from: triggers, examples, intents' words, clause and word data."""
    payload: dict[str, Any] = {
        "feature_version": FEATURE_VERSION,
        "c": C,
        "triggers": _sorted_triggers(library),
        "examples": [[list(e.labels), e.text] for e in library.examples],
        "intents": {i: [s.strong, s.keywords, s.weak, s.whole, s.patterns] for i, s in sorted(library.intents.items())},
        "words": [library.words.free, sorted(library.words.exclusions.items())],
        "clauses": [
            library.clauses.cards,
            library.clauses.listings,
            library.clauses.openers,
            library.clauses.closers,
            library.clauses.social,
            library.clauses.intensifiers,
        ],
        # What reads a clause as a question, and 那 as 哪 in one (`[questions]`).
        "questions": [
            library.questions.markers,
            library.questions.unasked,
            library.questions.which,
            library.questions.judgements,
        ],
        "normalization": [
            sorted(library.normalization.synonyms.items()),
            sorted(library.normalization.traditional.items()),
            sorted(library.normalization.fillers),
        ],
    }
    # The JSON `json.dumps` makes, written in pieces: its C encoder made the whole text in one call, and a reload
    # builds in a thread beside the serving event loop, which waited for it (0.6 s at 20,000 phrases, loaded).
    digest = hashlib.sha256()
    for piece in json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=list).iterencode(payload):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()[:16]


def _sorted_triggers(library: Library) -> list[list[str]]:
    """Every `[intent, trigger]` of the suggested phrases in order, sorted an intent at a time: one `sorted` of
    them all held the GIL 0.3-0.5 s at 20,000 phrases."""
    by_intent: dict[str, list[str]] = {}
    for p in library.phrases:
        if p.intent not in ASSISTANT_INTENTS:
            by_intent.setdefault(p.intent, []).extend(p.triggers)
    return [[intent, t] for intent in sorted(by_intent) for t in sorted(by_intent[intent])]


def items(library: Library) -> list[Item]:
    """The training messages: every trigger of a customer-facing phrase, then every example."""
    out: list[Item] = []
    for phrase in library.phrases:
        if phrase.intent in ASSISTANT_INTENTS:
            continue
        out.extend(Item(phrase.intent, t, 1.0, f"phrase:{phrase.id}") for t in phrase.triggers)
    for example in library.examples:
        group = f"example:{example.where}"
        out.append(Item(example.labels[0], example.text, 1.0, group))
        out.extend(Item(label, example.text, SECOND_LABEL_WEIGHT, group) for label in example.labels[1:])
    return out


def train(
    matcher: Matcher, progress: Callable[[str], None] = lambda _: None, *, c: float = C, folds: int = FOLDS
) -> Outcome:
    """Fit the scorer on `matcher.library` (the matcher supplies each message's features).

    `folds` cross-validation folds calibrate the probabilities (0: no calibration, for quick experiments).
    """
    from sklearn.feature_extraction import DictVectorizer  # heavy: imported only to train
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    library = matcher.library
    data = items(library)
    classes = sorted({item.label for item in data} | {NONE})
    progress(_("%(n)s training messages", n=len(data)))
    found = [matcher.read(item.text).features for item in data]
    vectorizer = DictVectorizer(sort=True)
    x = vectorizer.fit_transform([_as_dict(f) for f in found])
    y = np.array([item.label for item in data])
    w = np.array([item.weight for item in data])
    groups = np.array([item.group for item in data])

    def fit(rows: np.ndarray) -> Any:
        model = LogisticRegression(C=c, max_iter=3000, tol=1e-4, class_weight=CLASS_WEIGHT)
        return model.fit(x[rows], y[rows], sample_weight=w[rows])

    # Calibration: scores the model gives messages it did not see, against their labels.
    main = w >= 1.0
    held_logits = np.zeros((len(data), len(classes)))
    splits = GroupKFold(n_splits=folds).split(x, y, groups) if folds >= 2 else []
    for n, (train_rows, test_rows) in enumerate(splits, 1):
        progress(_("fold %(n)s/%(folds)s", n=n, folds=folds))
        model = fit(train_rows)
        cols = [classes.index(c) for c in model.classes_]
        held = np.full((len(test_rows), len(classes)), -1e9)
        held[:, cols] = model.decision_function(x[test_rows])
        held_logits[test_rows] = held
    labels = np.array([classes.index(label) for label in y])
    temperature = _fit_temperature(held_logits[main], labels[main]) if folds >= 2 else 1.0
    folds_top1 = float(np.mean(held_logits[main].argmax(axis=1) == labels[main])) if folds >= 2 else 0.0
    progress(_("final model"))
    model = fit(np.arange(len(data)))
    weights = np.zeros((x.shape[1], len(classes)), dtype=np.float64)
    bias = np.full(len(classes), -1e4)
    cols = [classes.index(c) for c in model.classes_]
    weights[:, cols] = model.coef_.T
    bias[cols] = model.intercept_
    keep = np.abs(weights).max(axis=1) >= MIN_WEIGHT
    vocabulary = [name for name, kept in zip(vectorizer.get_feature_names_out(), keep) if kept]
    meta = {
        "feature_version": FEATURE_VERSION,
        "fingerprint": fingerprint(library),
        "items": len(data),
        "folds_top1": round(folds_top1, 4),
    }
    scorer = Scorer(classes, vocabulary, weights[keep], bias, temperature, meta)
    return Outcome(scorer, len(data), len(vocabulary), folds_top1, temperature)


def _as_dict(found: Features) -> dict[str, float]:
    return dict(zip(found.names, found.values))


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that makes held-out probabilities honest (least negative log-likelihood)."""

    def loss(log_t: float) -> float:
        z = logits / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(axis=1))
        return float(-log_p.mean())

    low, high = math.log(0.1), math.log(10.0)
    for _step in range(60):  # golden-section search: the loss is unimodal in log T
        a = high - (high - low) / 1.618
        b = low + (high - low) / 1.618
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return round(math.exp((low + high) / 2), 4)


def describe(outcome: Outcome) -> Sequence[str]:
    """Lines for the training command to print."""
    return [
        _("trained on %(n)s messages, %(features)s features kept", n=outcome.items, features=outcome.features),
        _("cross-validated top-1 on held-out folds: %(share)s", share=f"{outcome.folds_top1:.1%}"),
        _("calibration temperature: %(t)s", t=f"{outcome.temperature:g}"),
    ]


def load_scorer(library: Library) -> Scorer | None:
    """The library's trained scorer, if it has one; a stale one is used, with a warning."""
    path = scorer_path(library.directory, library.layers)
    if path is None:
        return None
    if not path.exists():
        log.warning("no %s in %s: intents are scored from key words and triggers alone", SCORER_FILE, path.parent)
        return None
    try:
        scorer = Scorer.load(path)
    except ScorerError as exc:
        log.error("%s; intents are scored from key words and triggers alone", exc)
        return None
    if scorer.fingerprint != fingerprint(library):
        log.warning("%s was trained on another version of the library: run `assistant phrases train`", path)
    return scorer
