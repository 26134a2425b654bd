"""Meta-tests: every setting, subcommand and route a user can reach is documented."""

from __future__ import annotations

import dataclasses
import re
import tomllib

from assistant.cli import cli
from assistant.config import Config, load_config
from tests.helpers import ROOT, make_app

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings(obj: object, prefix: str = "") -> list[tuple[str, str]]:
    """(section, key) for every leaf setting of a config dataclass instance."""
    found = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.name in ("secrets", "base_dir", "settings"):
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            found += _settings(value, f"{prefix}{f.name}.")
        else:
            found.append((prefix.rstrip("."), f.name))
    return found


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"[{section}] {key}" for section, key in _settings(Config()) if f"`{key}`" not in README]
    assert not missing, f"settings missing from README's configuration table: {missing}"


def test_every_subcommand_is_in_the_readme() -> None:
    missing = [name for name in cli.commands if f"assistant {name}" not in README]
    assert not missing, f"subcommands missing from README: {missing}"


def test_every_eval_option_is_in_its_readme_row() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `assistant eval"))
    shared = {"--config", "--db", "--phrases", "--help"}  # every command's, documented once
    options = [o for p in cli.commands["eval"].params for o in p.opts if o.startswith("--") and o not in shared]
    assert options and [o for o in options if f"`{o}" not in row and f"[{o}" not in row] == []


def test_every_route_is_documented(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(tmp_path / "d.db")}})
    app = make_app(config)
    docs = README + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    missing = [p for p in sorted(paths) if not p.startswith("/static") and p not in docs]
    assert not missing, f"routes missing from README/docs: {missing}"


def test_shipped_config_mentions_every_section() -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    sections = {s.split(".")[0] for s, _ in _settings(Config()) if s}
    missing = [s for s in sorted(sections) if not re.search(rf"^\[{s}[\].]", text, flags=re.M)]
    assert not missing, f"config.toml lacks sections: {missing}"


def test_every_toml_example_in_the_docs_loads_as_config() -> None:
    # A shop's engineer copies these into config.toml as written (a Chinese key without quotes once stopped
    # the service). Each must be valid TOML, and a block naming a config section must pass the config's checks.
    blocks = [
        (path.name, block)
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for block in re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    ]
    assert len(blocks) > 5
    for name, block in blocks:
        try:
            data = tomllib.loads(block)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"{name}: a TOML example that does not load: {exc}") from None
        if set(data) <= {f.name for f in dataclasses.fields(Config)}:
            sections = {section: values for section, values in data.items() if isinstance(values, dict)}
            load_config(None, env={}, overrides=sections)
