"""Quality of the shipped rules on labeled sets of our own writing (docs/quality.md has the figures).

The development set was used to write the rules. The first held-out set was measured once, then its
misses led to a second round of rules; the second held-out set was written after that round and never
used to change them, so its floors are what the rules measured there, not targets met by tuning.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.cli import main
from assistant.qa.evaluation import Evaluation, evaluate, read_examples
from assistant.qa.inspector import Inspector
from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT

DATA = ROOT / "tests" / "data"
CATEGORIES = {"ad_extreme", "off_platform", "rude", "promise", "risk"}


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector.load([ROOT / "phrases" / "qa.toml"])


def scores(inspector: Inspector, name: str) -> Evaluation:
    return evaluate(inspector, read_examples(DATA / name))


def test_qa_eval_development_set_meets_the_targets(inspector: Inspector) -> None:
    result = scores(inspector, "qa_dev.tsv")
    assert set(result.scores) == CATEGORIES
    for name, s in result.scores.items():
        assert s.precision is not None and s.precision >= 0.9, name
        assert s.recall is not None and s.recall >= 0.8, name
    assert result.ordinary_agent >= 100
    assert result.false_alarm_rate is not None and result.false_alarm_rate <= 0.03


def test_qa_eval_first_held_out_set_keeps_its_floors(inspector: Inspector) -> None:
    result = scores(inspector, "qa_holdout.tsv")
    for name, s in result.scores.items():
        assert s.true_positives + s.false_negatives >= 15, name  # every category is tested
        assert s.precision is not None and s.precision >= 0.9, name
        assert s.recall is not None and s.recall >= 0.9, name
    assert result.ordinary_agent >= 80
    assert result.false_alarm_rate is not None and result.false_alarm_rate <= 0.03


def test_qa_eval_second_held_out_set_keeps_its_measured_floors(inspector: Inspector) -> None:
    result = scores(inspector, "qa_holdout2.tsv")
    for name, s in result.scores.items():
        assert s.true_positives + s.false_negatives >= 8, name
        assert s.precision is not None and s.precision >= 0.9, name
        assert s.recall is not None and s.recall >= 0.8, name
    assert result.ordinary_agent >= 50
    assert result.false_alarm_rate is not None and result.false_alarm_rate <= 0.03


def test_qa_eval_shipped_phrase_library_is_mostly_clean(inspector: Inspector, shipped_matcher: Matcher) -> None:
    """The library's replies are ordinary agent replies; the few flagged are real findings (全网最低价 scripts)."""
    library = shipped_matcher.library
    texts = [p.text for p in library.phrases]
    flagged = [t for t in texts if any(f.category != "short" for f in inspector.inspect(t, "agent"))]
    assert len(texts) > 200
    assert len(flagged) / len(texts) <= 0.03, flagged
    assert all("最低价" in t for t in flagged)


def test_qa_eval_counts_each_category(inspector: Inspector, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "set.tsv"
    path.write_text(
        "# comment\nagent\tad_extreme\t全网最低价\nagent\tnone\t最快明天到\nagent\tnone\t加我微信\n"
        "customer\trisk\t质量不好\n",
        encoding="utf-8",
    )
    result = evaluate(inspector, read_examples(path))
    assert (result.scores["ad_extreme"].true_positives, result.scores["off_platform"].false_positives) == (1, 1)
    assert result.scores["risk"].false_negatives == 1
    assert (result.ordinary_agent, result.false_alarms) == (2, 1)
    assert len(result.mistakes) == 2


def test_qa_eval_refuses_a_malformed_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.tsv"
    path.write_text("agent\tnone\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:1: expected side<TAB>labels<TAB>text"):
        read_examples(path)


def test_qa_eval_cli_names_a_mistyped_set_in_the_interface_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A wrong --set printed Python's "[Errno 2] No such file or directory: '…'"
    config = ["--config", str(ROOT / "config.toml")]
    assert main(["qa", "eval", "--set", str(tmp_path / "qa_dev.tsv"), *config]) == 1
    assert capsys.readouterr().err == f"assistant: {tmp_path / 'qa_dev.tsv'}: 没有这个文件或目录\n"


def test_qa_eval_cli_speaks_the_interface_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Its table and lines were English among Chinese commands: category precision recall tp fp fn, off_platform,
    # "false alarms on ordinary agent replies", "line 2 [agent] wanted none, got off_platform".
    path = tmp_path / "set.tsv"
    path.write_text("agent\tad_extreme\t全网最低价\nagent\tnone\t加我微信\n", encoding="utf-8")
    config = ["--config", str(ROOT / "config.toml")]
    assert main(["qa", "eval", "--set", str(path), "--mistakes", *config]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["类别", "精确率", "召回率", "命中", "误报", "漏报"]
    assert "站外引流" in "\n".join(out) and "off_platform" not in "\n".join(out)
    assert "普通客服回复的误报率：100.0%（1 条中 1 条）；共 2 行" in out
    assert "  第 2 行 [客服] 应为 无，实际 站外引流：加我微信" in out
    path.write_text("agent\tnone\n", encoding="utf-8")
    assert main(["qa", "eval", "--set", str(path), *config]) == 1
    assert "：应为 方向<TAB>标签<TAB>文本，实际是 'agent\\tnone'" in capsys.readouterr().err


def test_qa_eval_supervisor_set_leaves_everyday_good_service_alone(inspector: Inspector) -> None:
    # 欢迎语, 不好意思让您久等了, 跟主管说过了, the buyer's words quoted back, goods named 滚刷, 包包, vivo X100: 18 of
    # 54 were flagged (33 %), and 2 of 7 buyers' ordinary messages (不是要投诉, 不会给你们差评).
    result = scores(inspector, "qa_supervisor.tsv")
    assert result.ordinary_agent >= 50
    assert result.false_alarms == 0
    ordinary = [e for e in read_examples(DATA / "qa_supervisor.tsv") if not e.labels]
    assert [e.text for e in ordinary if inspector.inspect(e.text, e.side) and e.side == "customer"] == []


def test_qa_eval_supervisor_set_catches_wording_written_to_dodge(inspector: Inspector) -> None:
    # 威心, wechat, 绿色泡泡, 丁丁, SB, mao病, 全网第1, 最di价, ts, 投su, cp, 骗纸 got past every rule.
    result = scores(inspector, "qa_supervisor.tsv")
    for name, s in result.scores.items():
        assert s.true_positives + s.false_negatives >= 6, name
        assert s.false_negatives == 0, name
        assert s.precision == 1.0, name


def test_qa_pushing_the_buyer_to_order_is_rude_a_deadline_is_not(inspector: Inspector) -> None:
    # The training material scores 逼单 against the agent and teaches urgency told as a fact.
    for text in ("你到底拍不拍，给个准话", "想好了没？赶紧拍吧", "快点下单，别磨蹭"):
        assert [f.rule for f in inspector.inspect(text, "agent")] == ["rude.pushing"], text
    for text in (
        "今天是活动最后一天哦，明天就恢复原价了",
        "这款只剩最后两件了，喜欢的话可以早点拍下哦",
        "拍不拍照都可以",
    ):
        assert inspector.inspect(text, "agent") == [], text


def test_qa_eval_supervisor_held_out_set_keeps_its_measured_floors(inspector: Inspector) -> None:
    # Written after the fixes for qa_supervisor.tsv, measured once, never used to change the rules (docs/quality.md).
    result = scores(inspector, "qa_supervisor_holdout.tsv")
    for name, s in result.scores.items():
        assert s.true_positives + s.false_negatives >= 4, name
        assert s.precision is not None and s.precision >= 0.7, name
        assert s.recall is not None and s.recall >= 0.8, name
    assert result.ordinary_agent >= 24
    assert result.false_alarms <= 1


def test_qa_eval_disguise_set_reads_words_in_words_denials_and_substitutes(inspector: Inspector) -> None:
    # Flagged: 无语音, 财源滚滚, 病虫害, 闭嘴鸭, 随你行, 我没说您爱买不买, 您是说"全网最低价"吗, a buyer's 我没说要投诉 and
    # 我怕遇到骗子 (14 of 28 ordinary replies, 3 of 9 buyers' ordinary messages); missed: shabi, sha比, ai买不买, 加我🐧 and
    # 加我🛰️ + an id, 报jing, xiao二.
    result = scores(inspector, "qa_disguise_own_writing.tsv")
    assert result.ordinary_agent >= 25 and result.false_alarms == 0
    ordinary = [e for e in read_examples(DATA / "qa_disguise_own_writing.tsv") if not e.labels]
    assert [e.text for e in ordinary if e.side == "customer" and inspector.inspect(e.text, e.side)] == []
    for name, s in result.scores.items():
        assert s.false_negatives == 0 and s.false_positives == 0, name
