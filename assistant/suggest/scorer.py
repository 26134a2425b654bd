"""The learned scorer: a linear model over a message's character and word n-grams and its key-word evidence.

It is trained ahead of time (`assistant phrases train`, see training.py) from the library's triggers and
examples, and stored beside the library as `scorer.npz`: plain arrays, read without scikit-learn.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.i18n import _
from assistant.suggest.textnorm import Analysis

SCORER_FILE = "scorer.npz"
FEATURE_VERSION = 3
MAX_FEATURE_CHARS = 90  # characters of a message's focus that give n-grams
TEXT_SCALE = 5.0  # n-gram features weigh TEXT_SCALE / sqrt(their number): long and short messages alike
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes
# Pronouns, particles and aspect marks say nothing of a topic alone: as single characters or words they only
# taught the model how chit-chat is phrased, and made plain questions look like chit-chat. In longer n-grams
# they still count ("能退吗", "到了吗").
FUNCTION_CHARS = frozenset("我你您他她它们这那个的了着过吗么嘛呢吧啊呀哦哈在是也都就还又很")
# Latin letters count as whole words only: their single letters and fragments made pinyin (shi zheng pin ma) and
# links read as English triggers (morning). In character n-grams a Latin word is one mark, "a word stood here".
_LATIN = re.compile("[a-z]+")
LATIN_MARK = "_"
_NOT_ALONE = FUNCTION_CHARS | {LATIN_MARK}
_EDGES = "^$" + LATIN_MARK


def scorer_path(directory: Path | None, layers: Sequence[Path] = ()) -> Path | None:
    """Where a library's scorer is read: a shop's last layer's `scorer.npz` once it has one (trained on the
    shop's phrases too), else the first directory's, the shipped one."""
    own = layers[-1] / SCORER_FILE if len(layers) > 1 else None
    if own is not None and own.exists():
        return own
    return None if directory is None else directory / SCORER_FILE


def trained_scorer_path(directory: Path, layers: Sequence[Path] = ()) -> Path:
    """Where `assistant phrases train` writes: into the shop's last layer when there are layers (an update
    of the shipped library replaces its first directory), else beside the library."""
    return (layers[-1] if len(layers) > 1 else directory) / SCORER_FILE


class ScorerError(Exception):
    """A scorer file that cannot be read."""


@dataclass(frozen=True)
class Features:
    """A message's features: names and values, in a fixed order."""

    names: tuple[str, ...]
    values: tuple[float, ...]


def features(
    analysis: Analysis,
    keyword: Mapping[str, float],
    *,
    has_card: bool = False,
    social_before: bool = False,
    social_after: bool = False,
) -> Features:
    """Character 1–3-grams and words (with word pairs) of the focus text, key-word evidence, clause facts."""
    compact = _LATIN.sub(LATIN_MARK, analysis.compact)
    if len(compact) > MAX_FEATURE_CHARS:  # a long message: its head and tail say what it is about
        compact = compact[: MAX_FEATURE_CHARS * 2 // 3] + compact[-(MAX_FEATURE_CHARS // 3) :]
    padded = f"^{compact}$"
    grams: dict[str, None] = {"c" + char: None for char in compact if char not in _NOT_ALONE}
    for n in (2, 3):
        for i in range(len(padded) - n + 1):
            grams["c" + padded[i : i + n]] = None
    if not compact or LATIN_MARK in compact or "^" in compact or "$" in compact:  # no gram of edges alone ("^_$")
        for gram in [g for g in grams if len(g) > 2 and not g[1:].strip(_EDGES)]:
            del grams[gram]
    tokens = analysis.tokens
    for token in tokens:
        if token not in FUNCTION_CHARS:
            grams["w" + token] = None
    for left, right in zip(tokens, tokens[1:]):
        grams[f"b{left}|{right}"] = None
    scale = TEXT_SCALE / math.sqrt(len(grams)) if grams else 0.0
    names = list(grams)
    values = [scale] * len(names)
    for intent, strength in keyword.items():
        names.append("k" + intent)
        values.append(strength)
    flags = (("xcard", has_card), ("xopener", social_before), ("xcloser", social_after), ("xempty", not compact))
    for flag, on in flags:
        if on:
            names.append(flag)
            values.append(1.0)
    return Features(tuple(names), tuple(values))


def shown(name: str) -> str:
    """What a feature name means to an agent: the characters or word it stands for ("" for the others)."""
    kind, rest = name[:1], name[1:]
    if kind == "c":
        return "" if LATIN_MARK in rest else rest.strip("^$")
    if kind == "w":
        return rest
    if kind == "b":
        return rest.replace("|", "")
    return ""


@dataclass(frozen=True)
class Encoded:
    """A message's known features: rows of the weight matrix, their values, and those rows' weights."""

    rows: np.ndarray
    values: np.ndarray
    weights: np.ndarray  # the model's weights for `rows`, one row per feature: gathered once per message
    mean: np.ndarray  # each of those features' mean weight over the classes


class Scorer:
    """A trained linear model: per-class probabilities for a message's features, and why."""

    def __init__(
        self,
        classes: Sequence[str],
        vocabulary: Sequence[str],
        weights: np.ndarray,
        bias: np.ndarray,
        temperature: float,
        meta: Mapping[str, object],
    ) -> None:
        self.classes = tuple(classes)
        self._column = {name: i for i, name in enumerate(self.classes)}
        self.index = {name: i for i, name in enumerate(vocabulary)}
        self.vocabulary = tuple(vocabulary)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.temperature = float(temperature)
        self.meta = dict(meta)
        self.fingerprint = str(self.meta.get("fingerprint", ""))
        self._mean = self.weights.mean(axis=1)  # what each feature says for all classes alike (for `reasons`)
        self._shown = tuple(shown(name) for name in self.vocabulary)
        self._length = np.array([len(name) for name in self.vocabulary], dtype=np.intp)

    def encode(self, found: Features) -> Encoded:
        """The message's features as rows of the weight matrix (features the model does not know are left out)."""
        known = [(row, value) for row, value in zip(map(self.index.get, found.names), found.values) if row is not None]
        rows = [row for row, _ in known]
        values = [value for _, value in known]
        found_rows = np.array(rows, dtype=np.intp)
        return Encoded(found_rows, np.array(values, dtype=np.float32), self.weights[found_rows], self._mean[found_rows])

    def logits(self, encoded: Encoded) -> np.ndarray:
        """Raw class scores (before calibration)."""
        if not len(encoded.rows):
            return self.bias.copy()
        return self.bias + encoded.values @ encoded.weights

    def probabilities(self, encoded: Encoded) -> list[float]:
        """Calibrated probabilities, one per class (in `classes` order), summing to 1."""
        # Plain Python numbers past the product: on a score per class, numpy's calls cost more than the work.
        z = (self.logits(encoded) / self.temperature).tolist()
        top = max(z)
        exps = [math.exp(v - top) for v in z]
        total = sum(exps)
        return [v / total for v in exps]

    def reasons(self, encoded: Encoded, cls: str, limit: int = 3) -> tuple[str, ...]:
        """The words of the message that speak most for `cls` more than for the average class."""
        col = self._column.get(cls)
        if not len(encoded.rows) or col is None:
            return ()
        # What each feature says for the class beyond what it says for all of them.
        lift = encoded.values * (encoded.weights[:, col] - encoded.mean)
        # The highest lifts; of equal ones (n-grams always seen together), the longer first: it says more.
        ranked = np.lexsort((-self._length[encoded.rows], -lift))[: 4 * limit]
        rows, lifts = encoded.rows[ranked].tolist(), lift[ranked].tolist()
        texts = self._shown
        out: list[str] = []
        for row, value in zip(rows, lifts):
            if value <= 0.0:
                break
            text = texts[row]
            if not text or any(text in o for o in out):
                continue
            out = [o for o in out if o not in text] + [text]  # a longer n-gram replaces the pieces inside it
            if len(out) >= limit:
                break
        return tuple(out)

    # -- file -------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the model as a zip of .npy arrays with fixed dates: the same model gives the same bytes."""
        meta = {**self.meta, "temperature": self.temperature, "classes": list(self.classes)}
        arrays: dict[str, np.ndarray] = {
            "weights": self.weights.astype(np.float16),
            "bias": self.bias.astype(np.float32),
            "vocabulary": np.frombuffer("\n".join(self.vocabulary).encode("utf-8"), dtype=np.uint8),
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False, sort_keys=True).encode("utf-8"), np.uint8),
        }
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Scorer:
        """Read a scorer written by `save`; ScorerError says what is wrong with a bad file."""
        try:
            # The file opened here, so that it is closed when it is not a scorer (np.load left it open then).
            with path.open("rb") as file, np.load(file, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                vocabulary = bytes(data["vocabulary"]).decode("utf-8").split("\n")
                weights = data["weights"].astype(np.float32)
                bias = data["bias"].astype(np.float32)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            # numpy's word for a file that is no .npz ("... load it unsafely using allow_pickle=") must not be advice.
            error = _("not a scorer file") if "allow_pickle" in str(exc) else str(exc)
            raise ScorerError(_("%(file)s: cannot read the scorer (%(error)s): run `assistant phrases train` to write it again, or put the shipped one back", file=path.name, error=error)) from exc  # fmt: skip
        classes = meta.get("classes")
        if meta.get("feature_version") != FEATURE_VERSION:
            version = meta.get("feature_version")
            raise ScorerError(_("%(file)s: made for feature version %(version)s", file=path.name, version=version))
        if not isinstance(classes, list) or weights.shape != (len(vocabulary), len(classes)):
            raise ScorerError(_("%(file)s: arrays do not fit together", file=path.name))
        return cls(classes, vocabulary, weights, bias, float(meta.get("temperature", 1.0)), meta)


def blend(
    whole: tuple[dict[str, float], float], asked: tuple[dict[str, float], float], share: float
) -> tuple[dict[str, float], float]:
    """A message's intents and its fitting none, with its question's own reading counting `share` of them."""
    intents = {i: (1.0 - share) * whole[0].get(i, 0.0) + share * asked[0].get(i, 0.0) for i in {*whole[0], *asked[0]}}
    return intents, (1.0 - share) * whole[1] + share * asked[1]


def top(probabilities: np.ndarray, classes: Iterable[str], skip: frozenset[str]) -> list[tuple[str, float]]:
    """(class, probability) from most to least likely, leaving out `skip`."""
    pairs = [(c, float(p)) for c, p in zip(classes, probabilities) if c not in skip]
    pairs.sort(key=lambda item: -item[1])
    return pairs
