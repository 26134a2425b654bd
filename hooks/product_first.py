"""A shop's own phrase first when the buyer names one of its products (`adjust_suggestions`): a message about 羽绒服
gets the shop's 羽绒服 phrase (its 充绒量, how it is washed) above what the matcher found, in the webhook's answer,
the panel's card and the log alike. An example to copy as much as a hook to use; off unless listed:

    [hooks]
    enabled = ["product_first"]

    [hooks.product_first]
    # a word of the buyer's message = the code of the phrase shown first (the conversation's shop's own phrase of
    # that code when it has one, else the shared library's); the word found earliest in the message wins
    words = { "羽绒服" = "ywf1", "充绒量" = "ywf1", "真丝" = "zs1" }
    shops = ["tmall-flagship"]      # optional: only these shops' conversations (every shop's when left out)

A code the library does not have leaves the suggestions as the matcher made them, said in the log with this file
and line (docs/hooks.md). The call is a few substring searches: it runs for every customer message, on the event
loop, and must stay that cheap.
"""

from __future__ import annotations

from typing import Any

from assistant.config import Config, ConfigError
from assistant.hookspecs import hookimpl
from assistant.i18n import _

NAME = "product_first"


def settings(config: Config) -> dict[str, Any]:
    """This hook's `[hooks.product_first]` table."""
    return config.hooks.settings.get(NAME, {})


@hookimpl
def on_startup(config: Config) -> None:
    table = settings(config)
    words = table.get("words")
    if not isinstance(words, dict) or not words:
        raise ConfigError(
            _("%(key)s: expected a table of words and phrase codes, like %(example)s", key=f"[hooks.{NAME}] words",
              example='{ "羽绒服" = "ywf1" }')
        )  # fmt: skip
    for word, code in words.items():
        if not word.strip() or not isinstance(code, str) or not code.strip():
            raise ConfigError(
                _("%(key)s: %(word)s needs a word and a phrase code", key=f"[hooks.{NAME}] words", word=repr(word))
            )
    shops = table.get("shops")
    if shops is not None and (not isinstance(shops, list) or not all(isinstance(s, str) for s in shops)):
        raise ConfigError(_("%(key)s: expected a list of shop ids", key=f"[hooks.{NAME}] shops"))
    unknown = set(table) - {"words", "shops"}
    if unknown:
        raise ConfigError(_("unknown key '%(key)s'", key=f"hooks.{NAME}.{sorted(unknown)[0]}"))


def code_for(words: dict[str, str], text: str) -> str | None:
    """The phrase code of the word found earliest in `text` (case ignored; of two found there, the longer: 羽绒服
    before 羽绒), or None."""
    lowered = text.lower()
    found = [(at, -len(word), code) for word, code in words.items() if (at := lowered.find(word.lower())) >= 0]
    return min(found)[2].strip() if found else None


@hookimpl
def adjust_suggestions(config: Config, shop: str, text: str, suggestions: list[Any]) -> list[Any] | None:
    table = settings(config)
    shops = table.get("shops")
    if shops is not None and shop not in shops:
        return None
    code = code_for(table["words"], text)
    if code is None:
        return None
    return [code, *suggestions]  # the phrase first; already among them, it moves up (a phrase is shown once)
