"""Messages that are not plain one-topic text: emoticon codes, placeholders, links, two questions, other spellings."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer


def live(matcher: Matcher, text: str, history: tuple[str, ...] = ()) -> list[str]:
    """The intents the service suggests for a message after `history` (a minute apart, no reply between)."""
    earlier = [(n * 60_000, t) for n, t in enumerate(history)]
    found, _ = answer(matcher, Request(0, text, len(earlier) * 60_000, earlier, [], False, {}, ""), {})
    return [s.intent for s in found]


def test_emoticon_codes_alone_get_no_suggestion(shipped_matcher: Matcher) -> None:
    # Wangwang's and QQ's codes as exported or relayed text: the OK of /:(OK) is no thanks, the 8 of /:8-) no size.
    for text in ("/:8-)", "/:015", "/:(OK)", "/:^_^/:^_^", "/::)", "/:girl"):
        assert shipped_matcher.suggest(text) == [], text
    assert live(shipped_matcher, "谢谢/:^_^")[0] == "thanks_bye"
    assert live(shipped_matcher, "这个有货吗/:8-)")[0] == "stock"
    assert live(shipped_matcher, "好的/:(OK)")[0] == "thanks_bye"

