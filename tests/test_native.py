"""The compiled modules (the matcher's, events.py): used when built from the sources at hand, never when a source
has changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.suggest import native
from assistant.suggest.native import MANIFEST, MODULES, build_of, orphans, stale

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def _fake_build(directory: Path, digests: dict[str, str] | None = None) -> None:
    (directory / "suggest").mkdir(exist_ok=True)
    for module in MODULES:
        path = module.replace(".", "/")
        (directory / f"{path}.py").write_text(f"# {module}\n")
        (directory / f"{path}{SUFFIX}").write_bytes(b"")
    (directory / f"suggest/native__mypyc{SUFFIX}").write_bytes(b"")
    digests = digests if digests is not None else {m: native._digest(directory, m) for m in MODULES}
    (directory / MANIFEST).write_text(json.dumps(digests))


def test_nothing_is_stale_without_a_build(tmp_path: Path) -> None:
    (tmp_path / "suggest").mkdir()
    for module in MODULES:
        (tmp_path / f"{module.replace('.', '/')}.py").write_text("")
    assert stale(tmp_path) == []


def test_a_build_is_fresh_while_its_sources_are_the_ones_it_was_made_from(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    assert stale(tmp_path) == []
    os.utime(tmp_path / "suggest/matcher.py", (0, 2_000_000_000))  # touched (a checkout) but the same text
    assert stale(tmp_path) == []
    (tmp_path / "suggest/matcher.py").write_text("# edited\n")
    assert stale(tmp_path) == ["suggest.matcher"]
    (tmp_path / "events.py").write_text("# edited\n")  # outside the package `suggest` too
    assert stale(tmp_path) == ["suggest.matcher", "events"]


def test_a_build_without_its_record_or_shared_code_or_a_module_is_stale(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    (tmp_path / MANIFEST).unlink()
    assert stale(tmp_path) == list(MODULES)
    _fake_build(tmp_path)
    (tmp_path / f"suggest/native__mypyc{SUFFIX}").unlink()
    assert stale(tmp_path) == list(MODULES)
    _fake_build(tmp_path)
    (tmp_path / f"suggest/scorer{SUFFIX}").unlink()
    assert stale(tmp_path) == ["suggest.scorer"]


def _import_in_copy(tmp_path: Path, edit: str | None) -> subprocess.CompletedProcess[str]:
    """Import events.py, then the matcher, from a copy of the package (with its build, if any); `edit` names a
    source changed after the build."""
    copy = tmp_path / (edit.replace("/", "-") if edit else "as-built")
    shutil.copytree(ROOT / "assistant", copy / "assistant", ignore=shutil.ignore_patterns("__pycache__"))
    if edit:
        with (copy / "assistant" / edit).open("a") as source:
            source.write("\n# edited after the build\n")
    code = (
        "import assistant.events as e, assistant.suggest.matcher as m, assistant.suggest.clauses as c;"
        " print(e.__file__, m.__file__, c.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True, check=True)


def test_the_built_modules_run_compiled_and_an_edited_source_runs_them_all_from_source(tmp_path: Path) -> None:
    built = build_of("suggest.matcher") is not None and not stale()
    if os.environ.get("CI"):
        assert built, "make test builds the compiled modules first (make native)"
    as_built = _import_in_copy(tmp_path, edit=None)
    assert len(as_built.stdout.split()) == 3
    assert all(f.endswith(".so" if built else ".py") for f in as_built.stdout.split()), as_built.stdout
    assert "running them all from source" not in as_built.stderr
    for edit, name in (("suggest/clauses.py", "suggest.clauses"), ("events.py", "events")):
        edited = _import_in_copy(tmp_path, edit=edit)
        assert all(f.endswith(".py") for f in edited.stdout.split()), edited.stdout  # all, not only the edited one
        if built:
            assert "running them all from source" in edited.stderr and f"({name})" in edited.stderr


def test_a_module_compiled_by_a_build_of_other_modules_is_found(tmp_path: Path) -> None:
    _fake_build(tmp_path)
    assert orphans(tmp_path) == []
    (tmp_path / "ingest.py").write_text("")
    (tmp_path / f"ingest{SUFFIX}").write_bytes(b"")  # another commit's build compiled it
    (tmp_path / f"suggest/gone{SUFFIX}").write_bytes(b"")  # no source beside it: Python would not prefer it
    assert orphans(tmp_path) == ["ingest"]


def test_a_module_compiled_by_a_build_of_other_modules_runs_from_source(tmp_path: Path) -> None:
    # A checkout whose build list lacks a module compiled before (bisecting, another branch): the file is still
    # there, and Python would import it before the source, unchecked.
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "assistant", copy / "assistant", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / f"assistant/ingest{SUFFIX}").write_bytes(b"built from another source")
    code = "import assistant.ingest as i; print(i.__file__)"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    run = subprocess.run([sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(copy / "assistant/ingest.py")
    assert "compiled modules left by another build (ingest)" in run.stderr
