"""Labeled customer messages (`labels<TAB>text`): the library's training examples and evaluation sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.i18n import _, os_reason
from assistant.safetext import decode_saved_text
from assistant.suggest.vocabulary import ASSISTANT_INTENTS, INTENTS, Problem

NONE = "none"  # the label of a message that fits no intent
EXAMPLES_DIR = "examples"


@dataclass(frozen=True)
class Example:
    """One labeled message: every intent in `labels` is a right answer (the first is the main one)."""

    labels: tuple[str, ...]
    text: str
    where: str = ""

    @property
    def is_none(self) -> bool:
        return self.labels == (NONE,)


def parse_line(line: str) -> tuple[tuple[str, ...], str] | None:
    """(labels, text) of a `a|b<TAB>text` line; None for a blank line, a comment or a line not in that shape."""
    if not line.strip() or line.startswith("#"):
        return None
    label, sep, text = line.partition("\t")
    labels = tuple(x.strip() for x in label.split("|") if x.strip())
    if not sep or not labels or not text.strip():
        return None
    return labels, text.strip()


def read_text(path: Path) -> str:
    """A labeled set's text as spreadsheets and Notepad save it: UTF-8 with or without BOM, or GBK (GB18030);
    UnicodeDecodeError (UTF-8's) when it is neither."""
    found = decode_saved_text(path.read_bytes())
    if found is None:
        raise UnicodeDecodeError("utf-8", b"", 0, 0, "neither UTF-8 nor GBK")
    return found[0]


def read_examples(path: Path) -> tuple[list[Example], list[str]]:
    """The examples of a `labels<TAB>text` file, and the lines (file:line: start) that were not in that shape."""
    examples: list[Example] = []
    skipped: list[str] = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parsed = parse_line(line)
        if parsed is None:
            if line.strip() and not line.startswith("#"):
                skipped.append(f"{path.name}:{n}: {line[:40]}")
            continue
        examples.append(Example(parsed[0], parsed[1], f"{path.name}:{n}"))
    return examples, skipped


def load_examples(directory: Path, problems: list[Problem]) -> tuple[Example, ...]:
    """The library's training examples (`examples/*.tsv`); every malformed line or unknown label is a problem."""
    folder = directory / EXAMPLES_DIR
    if not folder.is_dir():
        return ()
    out: list[Example] = []
    allowed = (set(INTENTS) - ASSISTANT_INTENTS) | {NONE}
    for path in sorted(folder.glob("*.tsv")):
        try:
            examples, skipped = read_examples(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
            problems.append(Problem(f"{EXAMPLES_DIR}/{path.name}", "", _("cannot read: %(error)s", error=reason)))
            continue
        for line in skipped:
            problems.append(Problem(f"{EXAMPLES_DIR}/{path.name}", line.split(":")[1], _("not labels<TAB>text")))
        for example in examples:
            bad = [label for label in example.labels if label not in allowed]
            if bad or (NONE in example.labels and len(example.labels) > 1):
                if bad:
                    reason = _("unknown label %(label)s", label=repr(bad[0]))
                else:
                    reason = _("'%(none)s' cannot be combined with intents", none=NONE)
                problems.append(Problem(f"{EXAMPLES_DIR}/{path.name}", example.where.split(":")[1], reason))
            else:
                out.append(example)
    return tuple(out)
