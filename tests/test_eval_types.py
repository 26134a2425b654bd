"""Customer-type evaluation: accuracy overall, on typed and on default conversations, per-type recall and precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.cli import main
from assistant.suggest.evaluation import Report, TypeOutcome, evaluate, evaluate_types
from assistant.suggest.matcher import Matcher

ROOT = Path(__file__).resolve().parent.parent
# Our own conversations in the labeled-set format: one split thought, one re-ask turn after turn, one haggle.
LABELED = (
    "newcomer\t你好 | 想问下 | 这个杯子能进洗碗机吗 | 谢谢\n"
    "impatient\t在吗 | 在吗？ | 有人吗\n"
    "bargainer\t这个多少钱 | 80块行不行\n"
)


def outcome(label: str, predicted: str) -> TypeOutcome:
    return TypeOutcome(label=label, messages=("…",), predicted=predicted)


def test_report_splits_type_accuracy_into_typed_and_default() -> None:
    report = Report(
        types=(
            outcome("newcomer", "newcomer"),
            outcome("newcomer", "impatient"),
            outcome("impatient", "impatient"),
            outcome("bargainer", "newcomer"),
            outcome("returning", "returning"),
        )
    )
    assert report.type_accuracy == pytest.approx(3 / 5)
    assert report.nondefault_accuracy == pytest.approx(2 / 3)
    assert report.default_accuracy == pytest.approx(1 / 2)
    scores = {
        kind: (labeled, said, recall, precision) for kind, labeled, said, recall, precision in report.type_scores()
    }
    assert scores["impatient"] == (1, 2, 1.0, 0.5)
    assert scores["newcomer"] == (2, 2, 0.5, 0.5)
    assert scores["bargainer"] == (1, 0, 0.0, 0.0)


def test_report_formats_the_type_figures() -> None:
    report = Report(types=(outcome("newcomer", "newcomer"), outcome("impatient", "newcomer")), gap_ms=11_000)
    text = report.format(misses=True)
    assert "顾客类型准确率：  50.0%  (1/2)" in text
    assert "非默认类型准确率：    0.0%  (0/1)" in text
    assert "默认类型准确率：    100.0%  (1/1)" in text
    assert "消息间隔 11 秒" in text
    assert "召回率" in text and "精确率" in text
    assert "impatient → newcomer" in text
    assert "意图首选" not in text  # no intent set was measured


def test_report_counts_near_ties_and_which_of_the_two_was_right(shipped_matcher: Matcher) -> None:
    [tie] = evaluate_types(shipped_matcher, [("suspicious", "做工 | 正品")])
    assert (tie.predicted, tie.rival) == ("picky", "suspicious")
    text = Report(types=(tie, outcome("impatient", "impatient"))).format(misses=True)
    assert "两个都显示的：1 段（领先的对：0，另一个对：1）" in text
    assert "suspicious → picky/suspicious" in text


def test_evaluate_types_spaces_messages_by_the_gap(shipped_matcher: Matcher) -> None:
    rows = [("impatient", "在吗 | 在吗？ | 有人吗")]
    # Sent back to back, three presence checks are one turn; a minute apart, nobody answered them.
    assert evaluate_types(shipped_matcher, rows, gap_ms=0)[0].predicted == "newcomer"
    assert evaluate_types(shipped_matcher, rows, gap_ms=60_000)[0].predicted == "impatient"


def test_evaluate_reads_only_the_sets_it_is_given(shipped_matcher: Matcher, tmp_path: Path) -> None:
    path = tmp_path / "types.tsv"
    path.write_text(LABELED, encoding="utf-8")
    report = evaluate(shipped_matcher, None, path, gap_ms=0)
    assert not report.intents and len(report.types) == 3
    assert report.gap_ms == 0


def _run(argv: list[str]) -> int:
    return main([*argv, "--phrases", str(ROOT / "phrases"), "--config", str(ROOT / "config.toml")])


def test_cli_eval_types_with_a_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "types.tsv"
    path.write_text(LABELED, encoding="utf-8")
    assert _run(["eval", "--types", str(path), "--gap", "0"]) == 0
    out = capsys.readouterr().out
    assert "消息间隔 0 秒" in out
    assert "非默认类型准确率" in out and "默认类型准确率" in out
    assert "意图首选" not in out
    assert _run(["eval", "--types", str(path), "--gap", "60"]) == 0
    assert "顾客类型准确率：  100.0%  (3/3)" in capsys.readouterr().out


def test_cli_eval_refuses_a_missing_set_and_a_negative_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["eval", "--types", str(tmp_path / "nope.tsv")]) == 1
    assert "找不到标注集" in capsys.readouterr().err
    path = tmp_path / "types.tsv"
    path.write_text(LABELED, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:  # a usage error: click's message and status 2
        _run(["eval", "--types", str(path), "--gap", "-1"])
    assert exited.value.code == 2
    assert "'--gap'" in capsys.readouterr().err


def test_cli_eval_types_names_the_line_of_an_unknown_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "types.tsv"
    path.write_text("bargainer\t能便宜点吗 | 少二十吧\n# a note\nchatty\t在吗 | 亲在吗\n", encoding="utf-8")
    assert _run(["eval", "--types", str(path)]) == 0
    assert "types.tsv:3：chatty 不是库里的顾客类型" in capsys.readouterr().out
