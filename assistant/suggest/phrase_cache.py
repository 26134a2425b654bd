"""What a reload read of each phrase file, kept by the file's content for the next reload.

A shop editing one file of forty reloaded all 20,000 phrases: every file read as TOML again (1.6 s) and every
phrase checked again, its template compiled and its triggers normalized (5 s), on a quiet machine. A file whose
bytes are those of the last load (its SHA-256, not its modification time: a copy or a checkout keeps neither
apart) keeps its tables and its phrases as they were parsed; only the files that changed are read again. What
the phrases are checked against (`intents.toml`, `customer_types.toml`, the variables) is part of the key:
when it changes, every phrase is checked again. Files and phrases that the last load did not use are let go.
The checks across files (duplicate ids and codes, layers replacing phrases) run on every load all the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A phrase table parsed: the phrase, its template and its normalized triggers (phrases._parse_phrase's answer).
Parsed = tuple[Any, Any, tuple[str, ...]]
VOCABULARY = ("intents.toml", "customer_types.toml")
# Reads a file: its tables (None: a problem, noted by the reader) and the line of each `[[phrase]]`, by id().
Reader = Callable[[Path], tuple[dict[str, Any] | None, dict[int, int]]]


@dataclass(frozen=True)
class _File:
    digest: str
    name: str
    data: dict[str, Any]
    lines: dict[int, int]  # the line of each phrase table's `[[phrase]]`, by the table's id()


@dataclass(frozen=True)
class _Entry:
    table: object  # the phrase table itself: held, so that its id() names no other object meanwhile
    number: int
    group: str
    file: str
    parsed: Parsed


class PhraseFileCache:
    """Phrase files' tables and phrases by content, from one load to the next (one load at a time)."""

    def __init__(self) -> None:
        self._context = ""
        self._files: dict[Path, _File] = {}
        self._entries: dict[int, _Entry] = {}
        self._used_files: dict[Path, _File] = {}
        self._used_entries: dict[int, _Entry] = {}
        self.read = 0  # files read as TOML by the last load (the others were unchanged)
        self.parsed = 0  # phrases checked by the last load (the others came from unchanged files)

    def begin(self, vocabulary: Path, variables: Mapping[str, str]) -> None:
        """A load starts: what its phrases are checked against decides whether the phrases kept still hold."""
        digest = hashlib.sha256(repr(sorted(variables.items())).encode())
        for name in VOCABULARY:
            digest.update(_content(vocabulary / name).encode())
        if digest.hexdigest() != self._context:
            self._context = digest.hexdigest()
            self._entries = {}
        self._used_files, self._used_entries = {}, {}
        self.read = self.parsed = 0

    def end(self) -> None:
        """The load is over: only what it used is kept."""
        self._files, self._entries = self._used_files, self._used_entries
        self._used_files, self._used_entries = {}, {}

    def kept(self) -> list[Path]:
        """The files kept from the last load."""
        return list(self._files)

    def tables(self, path: Path, name: str, read: Reader) -> tuple[dict[str, Any] | None, dict[int, int]]:
        """The file's tables and phrase lines: as last read if its content is the same, else `read(path)`."""
        digest = _content(path)
        kept = self._files.get(path)
        if kept is not None and digest and (kept.digest, kept.name) == (digest, name):
            self._used_files[path] = kept
            return kept.data, kept.lines
        self.read += 1
        data, lines = read(path)
        if data is not None and digest and digest == _content(path):  # not changed while it was read
            self._used_files[path] = _File(digest, name, data, lines)
        return data, lines

    def phrase(self, table: object, number: int, group: str, file: str) -> Parsed | None:
        """A phrase table's parse, if it comes from an unchanged file and is where it was."""
        kept = self._entries.get(id(table))
        if kept is None or kept.table is not table or (kept.number, kept.group, kept.file) != (number, group, file):
            self.parsed += 1
            return None
        self._used_entries[id(table)] = kept
        return kept.parsed

    def keep_phrase(self, table: object, number: int, group: str, file: str, parsed: Parsed) -> None:
        """A phrase table parsed without a problem."""
        self._used_entries[id(table)] = _Entry(table, number, group, file, parsed)


@contextmanager
def loading(cache: PhraseFileCache | None, vocabulary: Path, variables: Mapping[str, str]) -> Iterator[None]:
    """A load with `cache` (None: without one): begun, and ended however it ends."""
    if cache is None:
        yield
        return
    cache.begin(vocabulary, variables)
    try:
        yield
    finally:
        cache.end()


def _content(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""
