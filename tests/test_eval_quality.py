"""Measured quality on the labeled sets stays above its floors (figures: `assistant eval`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.suggest.evaluation import Report, evaluate, read_labeled
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import INTENTS, TYPE_IDS, Library

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# A little below what the shipped library measures (see docs of `assistant eval`); raise them as it improves.
# The written and held-out intent sets are also among the scorer's training examples (phrases/examples/):
# their floors guard against regressions, not generalization.
TOP1_FLOOR = 0.97
TOP3_FLOOR = 0.99
TYPE_FLOOR = 0.95
HOLDOUT_TOP1_FLOOR = 0.97
HOLDOUT_TOP3_FLOOR = 0.99
HOLDOUT_TYPE_FLOOR = 0.95
# The final set was written last and is never trained or tuned on: the honest estimate of unseen wording.
FINAL_TOP1_FLOOR = 0.94
FINAL_TOP3_FLOOR = 0.97
FINAL_TYPE_FLOOR = 0.94
# Conversations written in our own words for the types the final set missed (pressure, haggling, demands, a
# polite stranger, impulse, wealth, haste) and returning buyers; written before those misses were fixed.
WRITTEN_TYPE_FLOOR = 0.95


@pytest.fixture(scope="module")
def report(shipped_matcher: Matcher) -> Report:
    return evaluate(shipped_matcher, DATA / "intents.tsv", DATA / "types.tsv")


@pytest.fixture(scope="module")
def holdout(shipped_matcher: Matcher) -> Report:
    return evaluate(shipped_matcher, DATA / "holdout_intents.tsv", DATA / "holdout_types.tsv")


def test_holdout_figures_stay_above_their_floors(holdout: Report) -> None:
    assert holdout.top1 >= HOLDOUT_TOP1_FLOOR, holdout.format(misses=True)
    assert holdout.top3 >= HOLDOUT_TOP3_FLOOR, holdout.format(misses=True)
    assert holdout.type_accuracy >= HOLDOUT_TYPE_FLOOR, holdout.format(misses=True)


def test_final_untuned_set_stays_above_its_floors(shipped_matcher: Matcher) -> None:
    final = evaluate(shipped_matcher, DATA / "final_intents.tsv", DATA / "final_types.tsv")
    assert final.top1 >= FINAL_TOP1_FLOOR, final.format(misses=True)
    assert final.top3 >= FINAL_TOP3_FLOOR, final.format(misses=True)
    assert final.type_accuracy >= FINAL_TYPE_FLOOR, final.format(misses=True)


def test_written_type_set_stays_above_its_floor(shipped_matcher: Matcher) -> None:
    rows, bad = read_labeled(DATA / "written_types.tsv")
    assert not bad and len(rows) >= 50
    written = evaluate(shipped_matcher, None, DATA / "written_types.tsv")
    assert written.type_accuracy >= WRITTEN_TYPE_FLOOR, written.format(misses=True)


def test_labeled_sets_are_big_and_well_formed() -> None:
    intents, bad_intents = read_labeled(DATA / "intents.tsv")
    types, bad_types = read_labeled(DATA / "types.tsv")
    assert not bad_intents and not bad_types
    assert len(intents) >= 300 and len(types) >= 80
    assert {label for label, _ in intents} <= set(INTENTS)
    assert {label for label, _ in types} <= set(TYPE_IDS)


def test_top1_intent_accuracy_stays_above_its_floor(report: Report) -> None:
    assert report.top1 >= TOP1_FLOOR, report.format(misses=True)


def test_top3_intent_accuracy_stays_above_its_floor(report: Report) -> None:
    assert report.top3 >= TOP3_FLOOR, report.format(misses=True)


def test_customer_type_accuracy_stays_above_its_floor(report: Report) -> None:
    assert report.type_accuracy >= TYPE_FLOOR, report.format(misses=True)


def test_no_intent_is_left_behind(report: Report) -> None:
    for intent, n, hits, _ in report.confusion():
        assert hits / n >= 0.7, intent


def test_report_formats_figures_and_confusion(report: Report) -> None:
    text = report.format(misses=True)
    assert "意图首选准确率" in text and "顾客类型准确率" in text
    assert "混淆为" in text and "错例" in text and "校准" in text


def test_final_set_is_not_among_the_training_examples() -> None:
    final = {text for _, text in read_labeled(DATA / "final_intents.tsv")[0]}
    examples = {e.text for e in Library.load(ROOT / "phrases").examples}
    # Everyday questions ("什么时候发货") are written alike anywhere; a copied set would share most lines.
    assert len(final & examples) < 0.25 * len(final)


def test_alternatives_none_and_silence_are_counted(shipped_matcher: Matcher, tmp_path: Path) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(
        "refund|return_exchange\t我要退货退款\n"  # either intent is right
        "shipping_time\t什么时候发货\n"
        "none\t我的账号登录不上\n"
        "none\t发票怎么开\n",  # labeled none on purpose: answered
        encoding="utf-8",
    )
    report = evaluate(shipped_matcher, path, None)
    assert len(report.labeled) == 2 and len(report.unlabeled) == 2
    assert report.top1 == 1.0 and report.top3 == 1.0 and report.labeled_silent == 0.0
    assert report.none_answered == 0.5
    assert ("none", "invoice", 1) in report.confusion_pairs()
    rows = report.calibration()
    assert sum(n for _, _, n, _, _ in rows) == 3  # answered messages, 'none' ones included
    assert all(low <= mean <= high for low, high, _, mean, _ in rows)


def test_malformed_lines_are_skipped_and_named(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("refund\t我要退款\nno tab here\n# comment\n\nrefund\t\n", encoding="utf-8")
    rows, skipped = read_labeled(path)
    assert rows == [("refund", "我要退款")]
    assert len(skipped) == 2
