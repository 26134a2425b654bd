"""`assistant panel-url`: an agent's panel URL with that agent's own token."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

import click

from assistant.cli.common import NAME, common_options, load
from assistant.events import clean_name
from assistant.i18n import N_, _


@click.command("panel-url", help=N_("an agent's panel URL, with that agent's own token"))
@common_options
@click.option("--agent", type=NAME, required=True, help=N_("the agent's name as chat events spell it"))
@click.option("--base", default=None, help=N_("the service's public base URL (default: host and port)"))
def panel_url(config_path: Path, db: Path | None, agent: str, base: str | None) -> int:
    from assistant.web.auth import agent_token  # aiohttp (~0.3 s of imports): only for this command

    config = load(config_path, db)
    agent = clean_name(agent)  # as events name the agent: a spreadsheet's byte-order mark opened an empty panel
    base = base or f"http://{config.server.host}:{config.server.port}"
    query = {"agent": agent}
    token = agent_token(config, agent)
    if token:
        query["token"] = token
    else:  # set for the service but not in this shell, the link was refused (401) with nothing said here
        print(_("note: %(name)s is not set here: the URL has no token, and opens the panel only of a service run without one (set the variable as the service has it)", name=config.auth.agent_token_env), file=sys.stderr)  # fmt: skip
    print(f"{base.rstrip('/')}/panel?{urlencode(query)}")
    return 0
