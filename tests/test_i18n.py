"""The message catalog: every user-facing string extracted is translated in zh_CN, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from assistant import i18n
from assistant.config import ConfigError, load_config
from assistant.i18n import catalog_path, translator

ROOT = Path(__file__).resolve().parent.parent


def extracted(tmp_path: Path) -> set[str]:
    """The msgids Babel finds in the code and templates, as `make messages` extracts them."""
    pot = tmp_path / "messages.pot"
    command = [
        str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "_", "-k", "gettext",
        "-k", "ngettext:1,2", "-k", "N_", "--no-location", "--omit-header", "-o", str(pot), ".",
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def test_zh_cn_catalog_translates_every_extracted_message(tmp_path: Path) -> None:
    with catalog_path("zh_CN").open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    translated = {}
    for m in catalog:
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        strings = [m.string] if isinstance(m.string, str) else list(m.string or ())
        assert all(strings) and not m.fuzzy, f"untranslated: {key!r}"
        translated[key] = strings
    found = extracted(tmp_path)
    assert sorted(found - set(translated)) == [], "run `make messages` and translate the new entries"
    assert sorted(set(translated) - found) == [], "entries no code uses any more: run `make messages`"
    for key, strings in translated.items():
        wanted = sorted(re.findall(r"%\(\w+\)[sdr]", key))
        for text in strings:
            assert sorted(re.findall(r"%\(\w+\)[sdr]", text)) == wanted or "num" in key, (key, text)


def test_translator_formats_named_values_in_both_languages() -> None:
    assert translator("zh_CN").gettext("Waiting %(d)s", d="3:05") == "等待 3:05"
    assert translator("en").gettext("Waiting %(d)s", d="3:05") == "Waiting 3:05"
    assert translator("zh_CN").ngettext("%(num)d message", "%(num)d messages", 2) == "2 条消息"
    assert translator("en").ngettext("%(num)d message", "%(num)d messages", 1) == "1 message"


def test_labels_are_chinese_in_zh_cn_and_readable_ids_in_en() -> None:
    assert i18n.label("zh_CN", "shipping_time", "发货时间") == "发货时间"
    assert i18n.label("en", "shipping_time", "发货时间") == "shipping time"
    assert i18n.followup_states("zh_CN")["stale"] == "消息迟到，未跟进"
    assert i18n.event_kinds("en")["order_paid"] == "Paid"


def test_unknown_language_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[ui]\nlanguage = "fr"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[ui\] language"):
        load_config(tmp_path / "c.toml")
    with pytest.raises(ValueError):
        translator("fr")
