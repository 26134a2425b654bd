"""The hot modules compiled to C with mypyc: the same source, less CPU per message and per event.

The matcher's modules (about a quarter less CPU per message) and `assistant.events`, which every event passes
through on the event loop (`parse_event` in about half the time). `make native` (run by `make serve`, `make test`
and `make bench`) builds them in place, beside their sources, as one extension group
(`assistant/suggest/native__mypyc…so` holds their shared code). Python then imports a compiled module before its
source. Compiled modules call each other directly, so they run all together or not at all: when any source differs
from the one it was built from (edited, or checked out since; the build records their digests),
`use_fresh_builds()` (called by `assistant/__init__.py`, before any of them is imported) makes every one of them
import from source again and logs why, until `make native` rebuilds them. A module compiled by a build of other
modules (another commit's list) is imported from its source as well, with a warning, and the next build deletes it.
Without a build (no C compiler at hand), everything runs from source, unchanged.

    python -m assistant.suggest.native      # build in place (what `make native` runs)
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

PACKAGE = "assistant"
# Named from the package `assistant`: each is assistant/<name with dots as slashes>.py.
MODULES = (
    "suggest.clauses",
    "suggest.clause_reader",
    "suggest.keywords",
    "suggest.textnorm",
    "suggest.scorer",
    "suggest.triggers",
    "suggest.goods",
    "suggest.plan",
    "suggest.answers",
    "suggest.matcher",
    "suggest.customer_type",
    "suggest.type_evidence",
    "events",  # every event's parse and checks, on the event loop
)
GROUP = f"{PACKAGE}.suggest.native"  # the shared library: assistant/suggest/native__mypyc.<abi>.so
SHARED = "suggest.native__mypyc"
MANIFEST = "suggest/native__mypyc.json"  # each compiled module's source digest at build time
HERE = Path(__file__).resolve().parent.parent  # the package `assistant`
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)  # the longest first, as Python tries them
NO_MODULES = frozenset({"__pycache__", "locale", "templates", "static"})  # folders of the package holding no module


def build_of(module: str, directory: Path = HERE) -> Path | None:
    """The compiled file of one module (or of the group's shared code), None when there is none."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"{_path(module)}{suffix}"
        if path.exists():
            return path
    return None


def stale(directory: Path = HERE) -> list[str]:
    """Modules whose compiled file is missing or was built from another source, when any module is compiled."""
    if not any(build_of(m, directory) for m in MODULES):
        return []
    try:
        built = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        built = {}
    if not isinstance(built, dict) or build_of(SHARED, directory) is None:
        return list(MODULES)
    return [m for m in MODULES if build_of(m, directory) is None or built.get(m) != _digest(directory, m)]


def orphans(directory: Path = HERE) -> list[str]:
    """Modules compiled beside their source that this build does not hold: left by a build whose list held them
    (another commit's, another branch's), and imported by Python before their source all the same."""
    found = []
    for folder, folders, files in os.walk(directory):
        folders[:] = [f for f in folders if f not in NO_MODULES]
        for name in files:
            if not name.endswith(SUFFIXES):
                continue
            suffix = next(s for s in SUFFIXES if name.endswith(s))
            if not os.path.exists(os.path.join(folder, name[: -len(suffix)] + ".py")):
                continue
            module = (Path(folder) / name[: -len(suffix)]).relative_to(directory).as_posix().replace("/", ".")
            if module not in MODULES and module != SHARED:
                found.append(module)
    return sorted(found)


def _path(module: str) -> str:
    return module.replace(".", "/")


def _digest(directory: Path, module: str) -> str:
    return hashlib.sha256((directory / f"{_path(module)}.py").read_bytes()).hexdigest()


class _FromSource(importlib.abc.MetaPathFinder):
    """Imports the compiled modules from their sources (a build made from other sources must not run)."""

    def __init__(self, directory: Path, modules: Sequence[str] = MODULES) -> None:
        self.directory = directory
        self.modules = frozenset(modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, module = fullname.partition(".")
        if package != PACKAGE or module not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, self.directory / f"{_path(module)}.py")


def use_fresh_builds(directory: Path = HERE) -> bool:
    """Run the compiled modules only when none is out of date; True when they will run compiled."""
    left = orphans(directory)
    if left:
        log.warning(
            "compiled modules left by another build (%s): running them from source; `make native` removes them",
            ", ".join(left),
        )
        sys.meta_path.insert(0, _FromSource(directory, left))
    outdated = stale(directory)
    if outdated:
        log.warning(
            "compiled modules were built from other sources (%s): running them all from source; "
            "`make native` rebuilds them",
            ", ".join(outdated),
        )
        sys.meta_path.insert(0, _FromSource(directory))
        return False
    return build_of(MODULES[0], directory) is not None


def build() -> None:
    """Compile the modules in place (needs mypy's mypyc, setuptools and a C compiler)."""
    from mypyc.build import mypycify
    from setuptools import setup

    root = HERE.parent
    os.chdir(root)  # mypyc names modules by their paths from the project's root
    paths = [str((HERE / f"{_path(m)}.py").relative_to(root)) for m in MODULES]
    digests = {m: _digest(HERE, m) for m in MODULES}  # before: a source edited meanwhile is not vouched for
    for module in orphans(HERE):
        left = build_of(module)
        if left is not None:
            left.unlink()
    setup(
        name="assistant-native",
        ext_modules=mypycify(paths, group_name=GROUP, opt_level="3"),
        script_args=["build_ext", "--inplace", "--build-temp", "build/native", "--build-lib", "build/native"],
    )
    # What the build was made from (its sources' digests), written last: a failed build leaves it stale.
    (HERE / MANIFEST).write_text(json.dumps(digests, indent=1) + "\n")


if __name__ == "__main__":
    build()
