"""The `assistant` command: one module per subcommand group, each added statically in cli/main.py."""

from assistant.cli.main import cli, main

__all__ = ["cli", "main"]
