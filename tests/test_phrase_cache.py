"""A reload reads and checks again only the phrase files whose content changed (suggest/phrase_cache.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from assistant.cluster.reloads import digest
from assistant.config import load_config
from assistant.suggest import phrases
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.suggest.phrases import Library, LibraryError
from assistant.web.appkeys import ENGINE
from tests.helpers import ROOT, make_app

HEADERS = {"Authorization": "Bearer adm"}


def _group(name: str, count: int, text: str = "亲，这款是现货的，付款后按顺序发出哦~") -> str:
    rows = [f'group = "{name}"']
    for i in range(count):
        rows += [
            "[[phrase]]",
            f'id = "shipping_time.{name}_{i}"',
            'intent = "shipping_time"',
            f'code = "{name}{i}"',
            f'text = "{text}"',
            f'triggers = ["{name}第{i}件什么时候发货"]',
        ]
    return "\n".join(rows) + "\n"


def _library(tmp_path: Path, files: int = 3) -> Path:
    library = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", library)
    for n in range(files):
        (library / f"own{n}.toml").write_text(_group(f"zz{n}x", 20), encoding="utf-8")
    return library


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files of the phrases checked from now on (one entry per phrase)."""
    checked: list[str] = []
    real = phrases._parse_phrase

    def parse(file: str, *args: Any) -> Any:
        checked.append(file)
        return real(file, *args)

    monkeypatch.setattr(phrases, "_parse_phrase", parse)
    return checked


async def test_reload_checks_again_only_the_phrases_of_the_file_that_changed(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shop editing one file of forty waited for every one of its 20,000 phrases to be read and checked again.
    library = _library(tmp_path)
    overrides = {"store": {"path": str(tmp_path / "r.db")}, "phrases": {"path": str(library)}}
    config = load_config(ROOT / "config.toml", env={"ASSISTANT_ADMIN_TOKEN": "adm"}, overrides=overrides)
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/admin/reload", headers=HEADERS)).status == 200
    checked = _counting(monkeypatch)
    (library / "own1.toml").write_text(_group("zz1x", 20, "亲，今天下单明天就发出哦~"), encoding="utf-8")
    assert (await client.post("/v1/admin/reload", headers=HEADERS)).status == 200
    assert checked == ["own1.toml"] * 20
    served = client.app[ENGINE].matcher.library
    assert served.by_id["shipping_time.zz1x_3"].text == "亲，今天下单明天就发出哦~"
    assert digest(served) == digest(Library.load(library))  # as a load from nothing reads the files


def test_a_file_rewritten_in_the_same_second_with_the_same_size_is_read_again(tmp_path: Path) -> None:
    library = _library(tmp_path)
    cache = PhraseFileCache()
    Library.load(library, cache=cache)
    path = library / "own0.toml"
    stat = path.stat()
    path.write_text(_group("zz0x", 20, "亲，这款是现货的，付款后按顺序发出呀~"), encoding="utf-8")  # 哦 → 呀
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    reloaded = Library.load(library, cache=cache)
    assert reloaded.by_id["shipping_time.zz0x_0"].text.endswith("呀~")


def test_a_changed_vocabulary_checks_every_phrase_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The triggers are normalized with intents.toml's synonyms: kept ones would be normalized the old way.
    library = _library(tmp_path, files=1)
    cache = PhraseFileCache()
    Library.load(library, cache=cache)
    intents = library / "intents.toml"
    intents.write_text(intents.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    checked = _counting(monkeypatch)
    reloaded = Library.load(library, cache=cache)
    assert checked.count("own0.toml") == 20 and len(checked) == len(reloaded.phrases)
    Library.load(library, {"shop": "小店"}, cache=cache)
    assert len(checked) == 2 * len(reloaded.phrases)  # and so do other variables


def test_problems_across_files_are_found_with_unchanged_files(tmp_path: Path) -> None:
    library = _library(tmp_path)
    cache = PhraseFileCache()
    Library.load(library, cache=cache)
    (library / "own2.toml").write_text(_group("zz0x", 1), encoding="utf-8")  # own0.toml's first id and code
    with pytest.raises(LibraryError) as failed:
        Library.load(library, cache=cache)
    assert [(p.file, p.phrase_id) for p in failed.value.problems] == [("own2.toml", "shipping_time.zz0x_0")]
    (library / "own0.toml").write_text("[[phrase]]\nid = ", encoding="utf-8")
    with pytest.raises(LibraryError) as failed:
        Library.load(library, cache=cache)
    assert [p.file for p in failed.value.problems] == ["own0.toml"]
    (library / "own0.toml").unlink()
    assert "shipping_time.zz0x_0" in Library.load(library, cache=cache).by_id  # own2.toml's, alone now


def test_a_file_gone_is_let_go(tmp_path: Path) -> None:
    library = _library(tmp_path)
    cache = PhraseFileCache()
    Library.load(library, cache=cache)
    kept = len(cache.kept())
    (library / "own2.toml").unlink()
    Library.load(library, cache=cache)
    assert len(cache.kept()) == kept - 1
    assert all(path.exists() for path in cache.kept())
