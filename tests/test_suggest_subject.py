"""A short question that names no subject (确定吗, 怎么处理) asks of the conversation's last subject, as an agent reads
it; a question naming its own keeps it, and one asked first is read as before."""

from __future__ import annotations

from assistant.suggest.matcher import Context, Matcher
from assistant.suggest.subject import SUBJECT_LOOKBACK, bare, dated
from tests.helpers import ROOT, written_codes

BARE = ROOT / "tests/data/written_bare_questions.tsv"
# Conversations whose last message's first suggestion is of a right intent, of the set's 53. Measured when the set
# was written, each bare question read alone as before: 29. The three left: 怎么用 after 满减 (用 is a word of using
# the goods), 多久能好 after a refund (多久 makes no question of it) and 是什么 after a gift (the scorer is sure it asks
# what the item is).
BARE_FLOOR = 50
DEADLINES = ROOT / "tests/data/written_deadlines.tsv"
# Of the deadline set's 15, measured when it was written, a deadline naming no subject unless its key word was strong
# or the scorer sure: 6. The two left: 能送到 after 星期六之前 reads as the courier's reach, 今天能退回来吗 as a return.
DEADLINE_FLOOR = 13


def first_intent(matcher: Matcher, messages: list[str]) -> str:
    """The first suggestion's intent for the last message after the earlier ones, 30 s apart ("none": silent)."""
    earlier = tuple((n * 30_000, text) for n, text in enumerate(messages[:-1]))
    found = matcher.suggest(messages[-1], Context(customer_messages=earlier))
    return found[0].intent if found else "none"


def test_a_bare_question_after_a_subject_gets_an_answer_of_that_subject(shipped_matcher: Matcher) -> None:
    rows = written_codes(BARE)
    assert len(rows) >= 50
    wrong = [
        (conversation, want, got)
        for want, conversation in rows
        if (got := first_intent(shipped_matcher, conversation.split(" | "))) not in want.split("|")
    ]
    assert len(rows) - len(wrong) >= BARE_FLOOR, wrong


def test_a_bare_question_follows_whichever_subject_came_last(shipped_matcher: Matcher) -> None:
    # 确定吗 alone reads as a doubt of authenticity (确定是正品吗): after a stock question it asked of the stock.
    assert first_intent(shipped_matcher, ["这条围巾还有灰色吗", "确定吗"]) == "stock"
    assert first_intent(shipped_matcher, ["这支口红是正品吗", "确定吗"]) == "authenticity"
    assert first_intent(shipped_matcher, ["明天能发出吗", "确定吗"]) == "shipping_time"
    # 怎么处理 alone reads as a reminder: after goods arrived broken, it asks what is done about them.
    assert first_intent(shipped_matcher, ["收到的盘子有个缺口", "怎么处理"]) == "quality_issue"
    assert first_intent(shipped_matcher, ["想开个发票", "怎么操作"]) == "invoice"


def test_the_latest_subject_within_the_window_counts(shipped_matcher: Matcher) -> None:
    # The subject of the latest message naming one, over an earlier one; a bare message between is passed over.
    assert first_intent(shipped_matcher, ["这个是正品吗", "今天能发货吗", "确定吗"]) == "shipping_time"
    assert first_intent(shipped_matcher, ["今天能发货吗", "这个是正品吗", "嗯嗯", "确定吗"]) == "authenticity"
    # Beyond SUBJECT_LOOKBACK messages back the subject is not taken: the question is read as it reads alone.
    far = ["今天能发货吗", *["[图片]"] * SUBJECT_LOOKBACK, "确定吗"]
    assert first_intent(shipped_matcher, far) == first_intent(shipped_matcher, ["确定吗"]) != "shipping_time"


def test_a_question_with_its_own_subject_keeps_it(shipped_matcher: Matcher) -> None:
    # 多少天能到 names the delivery (a weak word the scorer is sure of), 有证书吗 a proof, 在吗 a call: none is bare.
    assert first_intent(shipped_matcher, ["这款有现货吗", "大概多少天能到"]) == "logistics"
    assert first_intent(shipped_matcher, ["这个保温杯是正品吗", "有证书吗"]) == "authenticity"
    assert first_intent(shipped_matcher, ["发什么快递", "在吗"]) != "express_choice"
    assert first_intent(shipped_matcher, ["我要退款", "什么时候发货"]) == "shipping_time"


def test_only_short_questions_without_a_subject_are_bare(shipped_matcher: Matcher) -> None:
    asks = shipped_matcher.splitter.asks

    def is_bare(text: str) -> bool:
        return bare(shipped_matcher.read(text), shipped_matcher.intent_confidences(text)[0], asks)

    for text in ("确定吗", "怎么处理", "要拍照吗", "在哪领", "能保证吗", "那怎么办"):
        assert is_bare(text), text
    # A key word, a told fact (no question), a longer message, or a weak word the scorer is sure of.
    for text in ("有证书吗", "在吗", "收到了", "这个东西到底怎么处理比较好呢", "大概多少天能到", ""):
        assert not is_bare(text), text


def test_a_bare_question_alone_reads_as_before(shipped_matcher: Matcher) -> None:
    for text in ("确定吗", "怎么处理", "在哪领"):
        alone = [(s.code, s.confidence) for s in shipped_matcher.suggest(text)]
        assert alone == [(s.code, s.confidence) for s in shipped_matcher.suggest(text, Context())], text
    assert first_intent(shipped_matcher, ["确定吗"]) == "authenticity"


def test_a_question_setting_a_deadline_names_its_subject(shipped_matcher: Matcher) -> None:
    rows = written_codes(DEADLINES)
    assert len(rows) >= 15
    wrong = [
        (conversation, want, got)
        for want, conversation in rows
        if (got := first_intent(shipped_matcher, conversation.split(" | "))) not in want.split("|")
    ]
    assert len(rows) - len(wrong) >= DEADLINE_FLOOR, wrong
    # After another subject it keeps its own; a promise asked after it is asked of its time.
    assert first_intent(shipped_matcher, ["这件有货吗", "周五之前能到吗"]) in ("logistics", "shipping_time")
    assert first_intent(shipped_matcher, ["周五之前能到吗", "能保证吗"]) in ("logistics", "shipping_time")
    assert first_intent(shipped_matcher, ["这支口红是正品吗", "能保证吗"]) == "authenticity"


def test_a_deadline_is_a_day_or_a_span_with_a_key_word(shipped_matcher: Matcher) -> None:
    social = shipped_matcher.library.clauses.social
    for text in ("周五之前能到吗", "三天内能发货吗", "15号前能收到吗", "月底前能发货吗"):
        assert dated(shipped_matcher.read(text), social), text
    # A number that is no day (a shade, a size), or a day with no key word, sets no deadline.
    for text in ("我要3号色", "周五", "能保证吗", "今天天气好"):
        assert not dated(shipped_matcher.read(text), social), text
