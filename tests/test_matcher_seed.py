"""The matcher does the same work in every process: nothing it computes follows the order of a set of strings,
which changes with the hash seed (PYTHONHASHSEED) from one process to the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LABELED = ROOT / "tests" / "data" / "intents.tsv"

# Run from the sources, so that every call is seen (a compiled module calls its neighbours unseen); each message
# read as new, with the shipped scorer and without one (key words and trigger similarity alone).
WORK = r"""
import collections, json, sys
from assistant.suggest import native
sys.meta_path.insert(0, native._FromSource(native.HERE))
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library

library = Library.load(sys.argv[1])
messages = json.loads(sys.stdin.read())
calls = collections.Counter()

def count(frame, event, arg):
    if event == "call":
        calls[frame.f_code.co_filename.rpartition("/")[2] + ":" + frame.f_code.co_qualname] += 1
    elif event == "c_call":
        calls[getattr(arg, "__qualname__", "?")] += 1

out = []
for scorer in ("auto", None):
    matcher = Matcher(library, scorer=scorer, strict=True)
    for text in messages:
        matcher.clear_caches()
        calls.clear()
        sys.setprofile(count)
        found = matcher.suggest(text)
        sys.setprofile(None)
        shown = [(s.phrase_id, s.score, s.confidence, s.trigger, list(s.evidence)) for s in found]
        out.append({"text": text, "scorer": scorer, "suggestions": shown, "calls": dict(sorted(calls.items()))})
print(json.dumps(out, ensure_ascii=False))
"""

# Our own wording: short ones (a single pair, or none shared with any trigger), long ones, several questions.
EXTRA = [
    "发", "货呢", "在吗", "亲 这个什么时候能发货呀 我明天要出门", "能便宜点吗 包邮吗 发什么快递",
    "衣服收到了有个洞 你们怎么处理 退货运费谁出", "宝贝已经签收了但是里面少了一件 帮我查下",
]  # fmt: skip


def _work(seed: int, messages: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORK, str(ROOT / "phrases")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _result(process: subprocess.Popen[str], messages: list[str]) -> list[dict[str, Any]]:
    out, err = process.communicate(json.dumps(messages, ensure_ascii=False), timeout=600)
    assert process.returncode == 0, err
    found: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return found


def test_two_hash_seeds_do_the_same_work_and_suggest_the_same() -> None:
    lines = LABELED.read_text(encoding="utf-8").splitlines()
    messages = [line.partition("\t")[2] for line in lines[::4] if "\t" in line] + EXTRA
    first, second = _work(0, messages), _work(1, messages)  # side by side: each its own process
    one, other = _result(first, messages), _result(second, messages)
    assert len(one) == len(other) == 2 * len(messages)
    assert sum(bool(r["suggestions"]) for r in one) > len(messages)  # most messages are answered, both ways
    differ = [
        (a["text"], a["scorer"], {k: (a["calls"].get(k), b["calls"].get(k)) for k in {*a["calls"], *b["calls"]} if a["calls"].get(k) != b["calls"].get(k)})
        for a, b in zip(one, other)
        if a["calls"] != b["calls"]
    ]  # fmt: skip
    assert differ == []
    assert [r["suggestions"] for r in one] == [r["suggestions"] for r in other]
