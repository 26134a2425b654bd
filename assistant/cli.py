"""The `assistant` command: subcommands sharing --config and --db."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.config import Config, ConfigError, load_config


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options every subcommand takes."""
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file (default: config.toml)")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (overrides [store] path)")


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the config named by --config; a missing default file means built-in defaults."""
    path: Path | None = args.config
    if path is not None and not path.exists() and path == Path("config.toml"):
        path = None
    overrides: dict[str, dict[str, object]] = {}
    if getattr(args, "db", None) is not None:
        overrides["store"] = {"path": str(Path(args.db).resolve())}
    server = {k: getattr(args, k, None) for k in ("host", "port")}
    if any(v is not None for v in server.values()):
        overrides["server"] = server
    return load_config(path, overrides=overrides)


def db_path(config: Config) -> Path:
    return config.resolve(config.store.path)


def _serve(args: argparse.Namespace) -> int:
    from assistant.serve import serve

    return serve(config_from_args(args))


def _panel_url(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    from assistant.web.auth import agent_token

    config = config_from_args(args)
    base = args.base or f"http://{config.server.host}:{config.server.port}"
    query = {"agent": args.agent}
    token = agent_token(config, args.agent)
    if token:
        query["token"] = token
    print(f"{base.rstrip('/')}/panel?{urlencode(query)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Customer-service assistant: reply suggestions, idle follow-ups, interaction log and KPIs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the web service")
    add_common(serve)
    serve.add_argument("--host", default=None, help="listen address (overrides [server] host)")
    serve.add_argument("--port", type=int, default=None, help="listen port (overrides [server] port)")
    serve.set_defaults(func=_serve)
    panel_url = sub.add_parser("panel-url", help="an agent's panel URL, with that agent's own token")
    add_common(panel_url)
    panel_url.add_argument("--agent", required=True, help="the agent's name as chat events spell it")
    panel_url.add_argument("--base", default=None, help="the service's public base URL (default: host and port)")
    panel_url.set_defaults(func=_panel_url)
    for register in _command_modules():
        register(sub)
    return parser


def _command_modules() -> list:  # type: ignore[type-arg]
    """`register(subparsers)` of each module that adds subcommands."""
    import importlib

    found = []
    for name in ("commands_suggest", "commands_report", "commands_log", "commands_followups"):
        try:
            module = importlib.import_module(f"assistant.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"assistant.{name}":
                raise
            continue
        found.append(module.register)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"assistant: config error: {exc}", file=sys.stderr)
        return 2
