"""The message catalog: every user-facing string extracted is translated in zh_CN, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import click
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


def test_click_catalog_translates_every_message_click_has(tmp_path: Path) -> None:
    # Click's usage errors and --help headings: its source's messages, extracted as `make messages` does.
    pot = tmp_path / "click.pot"
    source = Path(click.__file__).parent
    command = [
        str(Path(sys.executable).parent / "pybabel"), "extract", "-k", "_", "-k", "ngettext:1,2", "--no-location",
        "--omit-header", "-o", str(pot), str(source),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0]: m.id for m in read_po(f) if m.id}
    with catalog_path("zh_CN", "click").open("rb") as f:
        catalog = {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(f, locale="zh_CN") if m.id}
    assert sorted(set(wanted) - set(catalog)) == [], "run `make messages` and translate Click's new messages"
    for key, ids in wanted.items():
        entry = catalog[key]
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string or ())
        assert all(strings) and not entry.fuzzy, f"untranslated: {key!r}"
        names = set(re.findall(r"\{(\w+)", " ".join([ids] if isinstance(ids, str) else ids)))
        for text in strings:
            assert set(re.findall(r"\{(\w+)", text)) <= names, (key, text)  # no name Click does not pass


def test_click_speaks_the_configured_language(tmp_path: Path) -> None:
    english = tmp_path / "en.toml"
    english.write_text('[ui]\nlanguage = "en"\n', encoding="utf-8")
    for config, expected in (
        (None, "错误：'--date' 的值无效：应为 YYYY-MM-DD 格式的日期"),
        (english, "Error: Invalid value"),
    ):
        args = [sys.executable, "-m", "assistant", "report", "--date", "2026-13-01"]
        args += ["--config", str(config)] if config else []
        done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_click_help_says_required_in_the_interface_language(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    assert main(["simulate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "[必填]" in out and "[x>=1; 必填]" in out and "required" not in out


def _command_paths(command: click.Command, path: list[str]) -> list[list[str]]:
    found = [path]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _command_paths(sub, [*path, name])
    return found


def test_click_help_of_every_command_is_all_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    # Found: --help in a Chinese interface still showed Click's placeholders in English (用法： assistant serve
    # [OPTIONS], --config PATH, --db TEXT, COMMAND [ARGS]..., an argument's name ITEM_ID), headings ended with an
    # ASCII colon (选项:), and a Chinese placeholder pushed its description a column out of line with the others.
    from assistant.cli.main import cli, main

    def columns(text: str) -> int:  # as a terminal shows it: a Chinese character takes two
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    paths = _command_paths(cli, [])
    assert len(paths) > 20
    for path in paths:
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        usage, *rest = out.splitlines()
        prog = " ".join(["assistant", *path])
        assert usage.startswith(f"用法： {prog} "), usage
        shown = [usage.removeprefix(f"用法： {prog} ")]
        starts: dict[str, set[int]] = {}
        section = ""
        for line in rest:
            if line and not line.startswith(" "):
                assert line.endswith("：") and not line.endswith(":"), (path, line)
                section = line
                continue
            row = re.match(r"^(  \S.*?)( {2,})\S", line)
            if section == "选项：" and row:
                shown.append(re.sub(r"(?<!\S)--?[\w-]+,?", "", row[1]))  # the placeholder, without option names
                starts.setdefault(section, set()).add(columns(row[1]) + len(row[2]))
        # A date's format (YYYY-MM-DD) and 商品ID (Taobao's own word) are written so in Chinese too.
        english = [s for s in shown if re.search(r"[A-Z]{2,}", s.replace("YYYY-MM-DD", "").replace("商品ID", ""))]
        assert english == [], (path, english)
        assert all(len(found) == 1 for found in starts.values()), (path, out)
    with pytest.raises(SystemExit):
        main(["catalog", "show"])
    assert "缺少参数 '商品ID'" in capsys.readouterr().err


def test_click_help_fits_the_terminal_and_its_errors_end_in_a_chinese_full_stop(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: Click broke help lines only at spaces, so a Chinese description ran on in one line (`store backup`'s,
    # 141 columns in an 80-column terminal), and it wrote an ASCII full stop after its translated errors
    # (错误：缺少参数 '商品ID'.) and a space before its guess (没有选项 '--bogus'。 （您是不是要写…).
    from assistant.cli.click_text import columns
    from assistant.cli.main import cli, main

    monkeypatch.setenv("COLUMNS", "80")
    missing = 0
    for path in _command_paths(cli, []):
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        wide = [line for line in out.splitlines() if columns(line) > 80]
        assert wide == [], (path, wide)
        # A line starts with no closing mark (，。、；：）).
        assert not re.search(r"\n\s*[，。、；：）]", out), (path, out)
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        if any(isinstance(p, click.Argument) and p.required for p in command.params):
            missing += 1
            with pytest.raises(SystemExit):
                main(path)
            error = capsys.readouterr().err.splitlines()[-1]
            assert error.startswith("错误：缺少参数 '") and error.endswith("'。"), (path, error)
    assert missing >= 5
    with pytest.raises(SystemExit):
        main(["report", "--bogus"])
    assert capsys.readouterr().err.splitlines()[-1] == "错误：没有选项 '--bogus'。（您是不是要写：'--out'？）"


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


def test_the_report_and_the_log_name_a_short_reply_alike() -> None:
    # The report said 短句 / 短句回复 where the daily log and the quality page say 短回复: a supervisor
    # going from the report's figure to the log's badge and filter read two names for one thing.
    t = translator("zh_CN")
    for msgid in ("Short replies", "Slow responses / short replies", "Short reply", "short reply"):
        assert "短回复" in t.gettext(msgid) and "短句" not in t.gettext(msgid), msgid
    assert t.gettext("Short replies only (under 4 characters)") == "只看短回复（少于 4 字）"  # full-width, as Chinese


def test_a_zone_is_named_as_chinese_staff_say_it_and_kept_otherwise() -> None:
    assert i18n.zone_name("Asia/Shanghai", "zh_CN") == "北京时间"
    assert i18n.zone_name("Asia/Hong_Kong", "zh_CN") == "香港时间"
    assert i18n.zone_name("Europe/Berlin", "zh_CN") == "Europe/Berlin"  # no name of ours: the id
    assert i18n.zone_name("Asia/Shanghai", "en") == "Asia/Shanghai"
