"""The plugin manager: our hookspecs plus the `hooks.<name>` modules enabled in `[hooks] enabled`."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from typing import Any

import pluggy
from aiohttp import web

from assistant import hookspecs
from assistant.config import Config, ConfigError

log = logging.getLogger(__name__)

PLUGINS = web.AppKey("plugins", pluggy.PluginManager)  # the service's plugin manager, once started


def build_plugin_manager(config: Config) -> pluggy.PluginManager:
    """A plugin manager with every hook module named in `[hooks] enabled` registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in config.hooks.enabled:
        if not name.isidentifier():
            raise ConfigError(f"[hooks] enabled: {name!r} is not a hook module name")
        module_name = f"hooks.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, "hooks"):
                raise
            raise ConfigError(f"[hooks] enabled: unknown hook {name!r} (no module hooks/{name}.py)") from None
        try:
            pm.register(module, name=module_name)
        except ValueError:
            raise ConfigError(f"[hooks] enabled: {name!r} is listed twice") from None
        except pluggy.PluginValidationError as exc:
            raise ConfigError(f"[hooks] enabled: {name!r}: {exc}") from None
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"[hooks] enabled: {exc}") from None
    return pm


async def await_all(results: Iterable[Any]) -> list[Any]:
    """Await the awaitable results of a hook call, in order; plain values pass through."""
    return [await r if inspect.isawaitable(r) else r for r in results]


async def first_result(hook: pluggy.HookCaller, **kwargs: Any) -> Any:
    """Call a firstresult hook's implementations in pluggy's order until one gives something other than None.

    Unlike a plain pluggy call, an `async def` implementation that resolves to None passes the
    turn to the next one, so an async plugin can decline ("not my conversation") too.
    """
    for impl in reversed(hook.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        result = impl.function(*(kwargs[name] for name in impl.argnames))
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            return result
    return None


def implementers(pm: pluggy.PluginManager, hook: str) -> list[str]:
    """Names of the plugins implementing `hook`."""
    caller = getattr(pm.hook, hook)
    return [impl.plugin_name for impl in caller.get_hookimpls()]
