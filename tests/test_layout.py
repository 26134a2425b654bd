"""The package's shape (DESIGN.md): a flat spine that imports no capability package, aiohttp's web module
only in the web layer, small modules. Checked on the source with `ast`, so a violation fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "assistant"
# The top: entry points that wire the capability packages together.
TOP = {"app", "__main__", "__init__"}
# Packages of the spine: config (its dataclasses, checks and TOML reader), logfile (the SQLite log's file as an operator
# handles it), pg (PostgreSQL behind sqlite3's interface, its dialect translation) and ground (plain data structures:
# the bounded map) import no capability package either.
SPINE_PACKAGES = {"config", "logfile", "pg", "ground"}
MAX_SPINE_MODULES = 25
MAX_LINES = 600
WEB_MODULES = ("aiohttp.web", "aiohttp.web_app", "aiohttp.web_request", "aiohttp.web_response")


def wings(package: Path) -> set[str]:
    """The capability packages: every sub-package of `assistant` but the spine's own."""
    return {p.parent.name for p in package.glob("*/__init__.py")} - SPINE_PACKAGES


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import anywhere in a module, `from x import y` also as `x.y`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(package: Path) -> list[str]:
    """Every breach of the layout rules below `package` (an `assistant`-shaped source tree)."""
    problems: list[str] = []
    names = wings(package)
    spine = [p for p in package.glob("*.py") if p.stem not in TOP]
    spine += [p for name in SPINE_PACKAGES for p in (package / name).glob("*.py")]
    direct = len(list(package.glob("*.py")))
    if direct > MAX_SPINE_MODULES:
        problems.append(f"{package.name}/ holds {direct} modules (at most {MAX_SPINE_MODULES})")
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_LINES:
            problems.append(f"{rel}: {source.count(chr(10))} lines (at most {MAX_LINES})")
        tree = ast.parse(source, filename=str(path))
        web_layer = rel.startswith(("assistant/web/", "assistant/cli/")) or rel == "assistant/app.py"
        for line, module in imported(tree):
            parts = module.split(".")
            if path in spine and parts[0] == package.name and len(parts) > 1 and parts[1] in names:
                problems.append(f"{rel}:{line}: the spine imports the capability package {module}")
            if module in WEB_MODULES and not web_layer:
                problems.append(f"{rel}:{line}: aiohttp's web module outside web/, app.py and cli/")
    return problems


def test_layout_of_the_package_holds() -> None:
    assert violations(PACKAGE) == []
    assert {"suggest", "followups", "kpi", "daylog", "web", "cli"} <= wings(PACKAGE)


def test_layout_check_finds_planted_violations(tmp_path: Path) -> None:
    tree = tmp_path / "assistant"
    (tree / "suggest").mkdir(parents=True)
    (tree / "suggest" / "__init__.py").write_text("")
    (tree / "suggest" / "matcher.py").write_text("from aiohttp import web\n")
    (tree / "store.py").write_text("def f():\n    from assistant.suggest import matcher\n")
    (tree / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tree / "config").mkdir()
    (tree / "config" / "__init__.py").write_text("from assistant.suggest import matcher\n")
    (tree / "hookspecs.py").write_text("from assistant.config import Config\n")
    (tree / "app.py").write_text("from aiohttp import web\nfrom assistant.suggest import matcher\n")
    found = violations(tree)
    assert found == [
        "assistant/big.py: 601 lines (at most 600)",
        "assistant/config/__init__.py:1: the spine imports the capability package assistant.suggest",
        "assistant/config/__init__.py:1: the spine imports the capability package assistant.suggest.matcher",
        "assistant/store.py:2: the spine imports the capability package assistant.suggest",
        "assistant/store.py:2: the spine imports the capability package assistant.suggest.matcher",
        "assistant/suggest/matcher.py:1: aiohttp's web module outside web/, app.py and cli/",
    ]
