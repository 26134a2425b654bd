"""The learned scorer: training is reproducible, the file round-trips, the shipped one fits the library."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.suggest.examples import Example
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library, LibraryError
from assistant.suggest.scorer import SCORER_FILE, Features, Scorer, ScorerError, features
from assistant.suggest.textnorm import Normalizer
from assistant.suggest.training import fingerprint, items, train

ROOT = Path(__file__).resolve().parent.parent


def _p(pid: str, intent: str, code: str, *triggers: str) -> dict[str, Any]:
    return {
        "id": pid,
        "intent": intent,
        "code": code,
        "text": "亲，这是一条足够长的回复内容哦~",
        "triggers": list(triggers),
    }


PHRASES = [
    _p("ship.a", "shipping_time", "fh1", "什么时候发货", "今天能发吗", "几天发货"),
    _p("ship.b", "shipping_time", "fh2", "多久能发出", "明天发货吗"),
    _p("log.a", "logistics", "wl1", "快递到哪了", "物流没更新", "几天能到"),
    _p("log.b", "logistics", "wl2", "怎么还没收到", "包裹在哪"),
    _p("inv.a", "invoice", "fp1", "能开发票吗", "发票抬头怎么写"),
    _p("inv.b", "invoice", "fp2", "电子发票发哪了", "专票能开吗"),
]
EXAMPLES = (
    Example(("shipping_time",), "拍了多久发出", "a.tsv:1"),
    Example(("logistics",), "东西到哪儿了", "a.tsv:2"),
    Example(("invoice", "payment"), "公司报销要票", "a.tsv:3"),
    Example(("none",), "你们几点下班", "a.tsv:4"),
    Example(("none",), "今天天气不错", "a.tsv:5"),
)


def tiny(directory: Path) -> Library:
    intents = {"intent": {"invoice": {"strong": ["发票"]}, "logistics": {"keywords": ["快递"]}}}
    library = Library.build([("t.toml", {"group": "测试", "phrase": PHRASES})], intents, {}, directory=directory)
    return dataclasses.replace(library, examples=EXAMPLES)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, Scorer]:
    library = tiny(tmp_path_factory.mktemp("lib"))
    return library, train(Matcher(library, scorer=None, strict=True)).scorer


def test_training_items_are_triggers_then_examples_with_second_labels_lighter(tmp_path: Path) -> None:
    data = items(tiny(tmp_path))
    assert [i.text for i in data[:3]] == ["什么时候发货", "今天能发吗", "几天发货"]
    second = [i for i in data if i.text == "公司报销要票"]
    assert [(i.label, i.weight) for i in second] == [("invoice", 1.0), ("payment", 0.5)]


def test_the_trained_scorer_knows_its_classes_and_scores_messages(trained: tuple[Library, Scorer]) -> None:
    library, scorer = trained
    assert set(scorer.classes) == {"shipping_time", "logistics", "invoice", "payment", "none"}
    matcher = Matcher(library, scorer=scorer, strict=True)
    p = scorer.probabilities(matcher.read("发票怎么开").encoded)  # type: ignore[arg-type]
    assert abs(sum(p) - 1.0) < 1e-9
    assert scorer.classes[p.index(max(p))] == "invoice"
    assert "发票" in "".join(scorer.reasons(matcher.read("发票怎么开").encoded, "invoice"))  # type: ignore[arg-type]


def test_features_leave_out_pronouns_and_particles_alone_but_keep_them_in_ngrams() -> None:
    names = set(features(Normalizer().analyze("我的快递到了吗"), {}).names)
    assert not names & {"c我", "c的", "c了", "c吗", "w我", "w的", "w了", "w吗"}
    assert {"c快", "c快递", "c到了吗", "w快递"} <= names


def test_latin_words_are_features_whole_never_by_their_letters() -> None:
    names = set(features(Normalizer().analyze("ji tian neng dao"), {}).names)
    assert {"wji", "wtian", "wneng", "wdao"} <= names
    assert not [n for n in names if n.startswith("c") and any("a" <= ch <= "z" for ch in n)]
    assert not [n for n in names if n.startswith("c")]  # Latin alone: no n-gram says "some Latin text" either
    # Beside Chinese a Latin word is one mark: the characters around it still make n-grams.
    mixed = set(features(Normalizer().analyze("能tui货吗"), {}).names)
    assert {"wtui", "c货", "c能_", "c_货"} <= mixed and not {"cu", "ct", "ctu", "cui"} & mixed


def _fixed(probabilities: dict[str, float]) -> Scorer:
    """A scorer that gives every message the same probabilities (no features, only its bias)."""
    classes = sorted(probabilities)
    bias = np.log(np.array([probabilities[c] for c in classes], dtype=np.float64))
    return Scorer(classes, [], np.zeros((0, len(classes))), bias, 1.0, {})


def test_silent_when_none_outweighs_the_intents_shown_together(tmp_path: Path) -> None:
    library = tiny(tmp_path)
    likely = {"none": 0.40, "shipping_time": 0.30, "logistics": 0.20, "invoice": 0.10}
    three = Matcher(library, scorer=_fixed(likely), min_confidence=0.2, strict=True)
    assert [s.intent for s in three.suggest("随便什么")] == ["shipping_time", "logistics", "invoice"]
    one = Matcher(library, k=1, scorer=_fixed(likely), min_confidence=0.2, strict=True)
    assert one.suggest("随便什么") == []  # shown alone, shipping_time is less likely than none
    unlikely = {"none": 0.55, "shipping_time": 0.25, "logistics": 0.12, "invoice": 0.08}
    assert Matcher(library, scorer=_fixed(unlikely), min_confidence=0.2, strict=True).suggest("随便什么") == []


def test_training_twice_writes_the_same_bytes(trained: tuple[Library, Scorer], tmp_path: Path) -> None:
    library, scorer = trained
    again = train(Matcher(library, scorer=None, strict=True)).scorer
    scorer.save(tmp_path / "a.npz")
    again.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_a_saved_scorer_reads_back_the_same(trained: tuple[Library, Scorer], tmp_path: Path) -> None:
    library, scorer = trained
    scorer.save(tmp_path / SCORER_FILE)
    loaded = Scorer.load(tmp_path / SCORER_FILE)
    assert loaded.classes == scorer.classes and loaded.fingerprint == fingerprint(library)
    matcher = Matcher(library, scorer=scorer)
    for text in ("什么时候发货", "快递到哪了", "你们几点下班"):
        encoded = matcher.read(text).encoded
        assert encoded is not None
        a, b = scorer.probabilities(encoded), loaded.probabilities(loaded.encode(matcher.read(text).features))
        assert np.allclose(a, b, atol=2e-3), text  # weights are stored as float16


def test_a_broken_scorer_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / SCORER_FILE).write_bytes(b"not a zip")
    with pytest.raises(ScorerError, match=SCORER_FILE):
        Scorer.load(tmp_path / SCORER_FILE)


def test_a_broken_scorer_file_says_what_to_do_not_numpys_advice(tmp_path: Path) -> None:
    (tmp_path / SCORER_FILE).write_bytes(b"garbage\n")
    with pytest.raises(ScorerError) as refused:
        Scorer.load(tmp_path / SCORER_FILE)
    assert str(refused.value) == (
        f"{SCORER_FILE}：无法读取打分模型（不是打分模型文件）：运行 `assistant phrases train` 重新生成，或放回随附的那个"
    )


def test_a_library_with_a_broken_scorer_still_suggests(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / SCORER_FILE).write_bytes(b"not a zip")
    with caplog.at_level(logging.ERROR):
        matcher = Matcher(tiny(tmp_path), strict=True)
    assert matcher.scorer is None and f"{SCORER_FILE}：无法读取打分模型" in caplog.text
    assert matcher.suggest("能开发票吗")[0].intent == "invoice"


def test_a_stale_scorer_is_used_with_a_warning(
    trained: tuple[Library, Scorer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, scorer = trained
    scorer.save(tmp_path / SCORER_FILE)
    library = dataclasses.replace(tiny(tmp_path), examples=EXAMPLES[:2])
    with caplog.at_level(logging.WARNING):
        matcher = Matcher(library)
    assert matcher.scorer is not None and "phrases train" in caplog.text


def test_the_shipped_scorer_was_trained_on_the_shipped_library() -> None:
    library = Library.load(ROOT / "phrases")
    scorer = Scorer.load(ROOT / "phrases" / SCORER_FILE)
    assert scorer.fingerprint == fingerprint(library), "phrases changed since training: run `make train`"
    assert (ROOT / "phrases" / SCORER_FILE).stat().st_size < 2_000_000


def test_fingerprint_is_written_in_pieces_beside_a_serving_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload computes it in a thread: the C encoder's one call for all the JSON left the event loop waiting
    # 0.6 s at 20,000 phrases. The digest is the same (the shipped scorer's, trained with the one call).
    import json.encoder

    def whole(*args: Any) -> Any:
        raise AssertionError("the whole JSON made in one call")

    monkeypatch.setattr(json.encoder, "c_make_encoder", whole)
    library = Library.load(ROOT / "phrases")
    assert fingerprint(library) == Scorer.load(ROOT / "phrases" / SCORER_FILE).fingerprint


def test_examples_with_unknown_labels_are_library_problems(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "x.tsv").write_text(
        "refund\t退款吧\nweather\t下雨吗\nnone|refund\t嗯\nno tab\nfollowup\t还在吗\n# note\n", encoding="utf-8"
    )
    with pytest.raises(LibraryError) as caught:
        Library.load(tmp_path)
    reasons = {(p.phrase_id, p.reason) for p in caught.value.problems}
    assert reasons == {
        ("2", "未知标签 'weather'"),
        ("3", "'none' 不能和意图一起标注"),
        ("4", "不是 labels<TAB>text 格式"),
        ("5", "未知标签 'followup'"),
    }


def test_of_features_that_weigh_alike_the_reason_given_is_the_longer_one() -> None:
    # N-grams always seen together get the same weights: the longer says more ("给个友" rather than "给个").
    vocabulary = ["c给个", "c个友", "c给个友", "c价"]
    weights = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scorer = Scorer(["price", "none"], vocabulary, weights, np.zeros(2), 1.0, {})
    encoded = scorer.encode(Features(tuple(vocabulary), (1.0, 1.0, 1.0, 1.0)))
    assert scorer.reasons(encoded, "price", limit=1) == ("给个友",)
    assert scorer.reasons(encoded, "none") == ("价",)
    assert scorer.reasons(encoded, "unknown") == ()


def test_training_a_layered_library_writes_the_shops_layer_and_leaves_the_shipped_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomli_w

    from assistant.cli import main

    base, shop = tmp_path / "phrases", tmp_path / "shop_phrases"
    (base / "examples").mkdir(parents=True)
    shop.mkdir()
    (base / "t.toml").write_text(tomli_w.dumps({"group": "测试", "phrase": PHRASES[:4]}), encoding="utf-8")
    (base / "examples" / "a.tsv").write_text("".join(f"{'|'.join(e.labels)}\t{e.text}\n" for e in EXAMPLES))
    (shop / "own.toml").write_text(tomli_w.dumps({"group": "本店", "phrase": PHRASES[4:]}), encoding="utf-8")
    shipped = b"the shipped scorer, as an update of the library brings it"
    (base / SCORER_FILE).write_bytes(shipped)
    config = tmp_path / "config.toml"
    config.write_text(f'[phrases]\npath = ["{base}", "{shop}"]\n', encoding="utf-8")
    assert main(["phrases", "train", "--config", str(config), "--db", str(tmp_path / "a.db")]) == 0
    assert str(shop / SCORER_FILE) in capsys.readouterr().out
    assert (base / SCORER_FILE).read_bytes() == shipped  # an update may replace it: the shop's is elsewhere
    library = Library.load([base, shop])
    matcher = Matcher(library, strict=True)  # reads the layer's, not the broken shipped bytes
    assert matcher.scorer is not None and matcher.scorer.fingerprint == fingerprint(library)
    assert matcher.suggest("能开发票吗")[0].intent == "invoice"
