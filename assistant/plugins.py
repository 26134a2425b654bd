"""The plugin manager (our hookspecs plus the `hooks.<name>` modules in `[hooks] enabled`) and its dispatch.

`Plugins` is built once per application by `create_app`: it starts and stops the plugins, hands each
newly logged event to `on_event` (and a customer message's suggestions to `on_suggestions`), and owns
the tasks that run the awaitable results of hook calls, so none is lost and all end on stop.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import inspect
import logging
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pluggy

from assistant import hookspecs
from assistant.clock import Clock, RunQueueWait, SystemClock
from assistant.config import Config, ConfigError
from assistant.events import Event
from assistant.hookspecs import READS_ONLY, DeliveryResult, Followup, unshared
from assistant.i18n import _
from assistant.outbound import Outbound
from assistant.store import Written
from assistant.tasks import TaskSet

log = logging.getLogger(__name__)

# A message stamped this long before it is logged is history, not a question waiting for an answer: a replay, a
# back-fill, a move to another database, or Chatwoot's `message_updated` of an old conversation seen for the first
# time. Its suggestions are not handed to `on_suggestions` (Chatwoot's note would bump a resolved conversation to
# the top), and its quality flags raise no alert (a month's complaints would page the supervisors' group).
FRESH_MS = 10 * 60 * 1000
SLOW_STARTUP_S = 10.0  # an `on_startup` running this long is named in the log, and again each time as long
# A plain notification (`on_event` …) that holds the event loop this long is named in the log, once per plugin and hook:
# meanwhile the service answered nothing, and nothing said which plugin it waited for.
SLOW_CALL_S = 0.1
# Hooks whose answer changes what the service does (suggestions, a follow-up's text): plain functions only, called
# on the event loop or in the writer's transaction; a mistake in one is logged once a minute per plugin, hook and kind.
ADJUSTING = ("adjust_suggestions", "adjust_followup")
MISTAKE_EVERY_MS = 60_000


def build_plugin_manager(config: Config) -> pluggy.PluginManager:
    """A plugin manager with every hook module named in `[hooks] enabled` registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in config.hooks.enabled:
        if not name.isidentifier():
            raise ConfigError(_("%(key)s: %(name)s is not a hook module name", key="[hooks] enabled", name=repr(name)))
        module_name = f"hooks.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (module_name, "hooks"):
                raise _unimportable(name, exc) from exc
            raise ConfigError(
                _(
                    "%(key)s: unknown hook %(name)s (no module %(module)s)",
                    key="[hooks] enabled",
                    name=repr(name),
                    module=f"hooks/{name}.py",
                )
            ) from None
        except Exception as exc:  # the module's own code failed: one line naming it, the error kept as the cause
            raise _unimportable(name, exc) from exc
        if (problem := _argument_problem(pm, name, module)) is not None:
            raise ConfigError(problem)
        try:
            pm.register(module, name=module_name)
        except ValueError:
            raise ConfigError(_("%(key)s: %(name)s is listed twice", key="[hooks] enabled", name=repr(name))) from None
        except pluggy.PluginValidationError as exc:  # pluggy's own text spans lines: one line of it
            error = " ".join(str(exc).split())
            raise ConfigError(
                _("%(key)s: %(name)s: %(error)s", key="[hooks] enabled", name=repr(name), error=error)
            ) from None
        if not pm.get_hookcallers(module):  # functions named like hooks but unmarked are never called
            raise ConfigError(
                _(
                    "%(key)s: %(name)s implements no hook: mark its hook functions with @hookimpl (from assistant.hookspecs import hookimpl)",
                    key="[hooks] enabled",
                    name=repr(name),
                )
            )  # fmt: skip
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = pm.get_name(exc.plugin) or str(exc.plugin)
        unknown = [c for c in vars(pm.hook).values() if not c.has_spec() and c.get_hookimpls()]
        known = [n for n, caller in vars(pm.hook).items() if caller.has_spec()]
        raise ConfigError(
            _(
                "%(key)s: %(plugin)s defines %(hooks)s, which is not a hook (docs/hooks.md lists them)",
                key="[hooks] enabled",
                plugin=plugin,
                hooks="、".join(_unknown_hook(impl, known) for c in unknown for impl in c.get_hookimpls()),
            )
        ) from None
    for hook in ADJUSTING:  # awaited nowhere: its result would be a coroutine, never the list or text
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if inspect.iscoroutinefunction(impl.function):
                file, line = where(impl.function)
                raise ConfigError(
                    _(
                        "%(key)s: %(plugin)s: %(hook)s (%(file)s, line %(line)s) must be a plain function, not an async def (docs/hooks.md)",
                        key="[hooks] enabled",
                        plugin=impl.plugin_name,
                        hook=hook,
                        file=file,
                        line=line,
                    )
                )  # fmt: skip
    return pm


def _unknown_hook(impl: pluggy.HookImpl, known: list[str]) -> str:
    """A function named like no hook, with its file and line, and the hook it may have meant (`on_suggestion`:
    `on_suggestions`): the engineer was told a name, not where it was nor what was meant."""
    file, line = where(impl.function)
    name = impl.function.__name__
    if meant := difflib.get_close_matches(name, known, n=1, cutoff=0.75):
        return _("%(function)s (%(file)s, line %(line)s; did you mean %(hook)s?)", function=name, file=file, line=line, hook=meant[0])  # fmt: skip
    return _("%(function)s (%(file)s, line %(line)s)", function=name, file=file, line=line)


def _argument_problem(pm: pluggy.PluginManager, name: str, module: object) -> str | None:
    """The line for a marked function taking an argument its hook does not pass (pluggy's error spans three
    lines of English), or None."""
    for attr in dir(module):
        if pm.parse_hookimpl_opts(module, attr) is None:
            continue
        caller = getattr(pm.hook, attr, None)
        if caller is None or caller.spec is None:  # not a hook: `check_pending` names it
            continue
        function = getattr(module, attr)
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            continue
        # What pluggy passes by name: arguments without a default (one with a default is left to it).
        wanted = [p.name for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]  # fmt: skip
        if unknown := [arg for arg in wanted if arg not in caller.spec.argnames]:
            return _(
                "%(key)s: %(name)s: %(hook)s takes %(args)s, which the hook does not pass (its arguments: %(known)s)",
                key="[hooks] enabled",
                name=repr(name),
                hook=attr,
                args="、".join(unknown),
                known="、".join(caller.spec.argnames),
            )
    return None


def _unimportable(name: str, exc: Exception) -> ConfigError:
    """One line for a hook module that cannot be imported, with the file and line that failed: a syntax error's
    own, else the hook module's line nearest the error (its `import` of a library not installed)."""
    error = f"{type(exc).__name__}: {exc}"
    place: tuple[str, int] | None = None
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        error, place = f"SyntaxError: {exc.msg}", (exc.filename, exc.lineno)
    else:
        package = sys.modules.get("hooks")
        folders = {Path(d).resolve() for d in getattr(package, "__path__", [])}
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if Path(f.filename).stem == name and Path(f.filename).resolve().parent in folders]
        if own and own[-1].lineno is not None:
            place = (own[-1].filename, own[-1].lineno)
    if place is None:
        return ConfigError(_("%(key)s: %(name)s cannot be imported: %(error)s", key="[hooks] enabled", name=repr(name), error=error))  # fmt: skip
    return ConfigError(
        _(
            "%(key)s: %(name)s cannot be imported: %(error)s (%(file)s, line %(line)s)",
            key="[hooks] enabled",
            name=repr(name),
            error=error,
            file=_shown_path(place[0]),
            line=place[1],
        )
    )


class Plugins:
    """The application's plugin manager with the values every hook call passes (config, outbound HTTP)."""

    def __init__(
        self,
        config: Config,
        pm: pluggy.PluginManager | None = None,
        *,
        http: Outbound | None = None,
        clock: Clock | None = None,
    ):
        self.config = config
        self.pm = pm if pm is not None else build_plugin_manager(config)
        self.clock: Clock = clock or SystemClock()
        self.http = http if http is not None else Outbound(self.clock.now_ms)
        self.tasks = TaskSet("hooks")
        # The service's own listeners to every logged event (the follow-ups' timers), called before any plugin's
        # `on_event` and not through pluggy: its call cost 7 Python calls per event on the event loop.
        self.event_listeners: list[Callable[[Event, int], None]] = []
        self.slow_startup_s = SLOW_STARTUP_S
        self.timer: Callable[[], float] = time.perf_counter  # measures plain notifications (tests give their own)
        self.waiting: Callable[[], float] = RunQueueWait()  # the thread's wait for a processor (an adjusting call's)
        self._said: set[tuple[str, str, str]] = set()  # (hook, plugin, "slow" or "result") already named in the log
        self._mistakes: dict[tuple[str, str, str], tuple[int, int]] = {}  # (hook, plugin, kind): (last said, since)
        self.last_own_s = 0.0  # the last adjusting call's own time: its wall time less the thread's preemption
        # Per broadcast hook, known once per set of plugins (`register`): its implementations in calling order, whether
        # one is a wrapper, whether every one only reads (`reads_only`); pluggy was asked for a copy of its list at each call.
        self._known: dict[str, tuple[list[pluggy.HookImpl], bool, bool]] = {}

    async def start(self) -> None:
        """`on_startup` of every plugin, in pluggy's order. A ConfigError stops the start as it is; any other error
        stops it with one line naming the plugin and the line that raised (its traceback at debug level)."""
        values = {"config": self.config, "http": self.http}
        impls = self.pm.hook.on_startup.get_hookimpls()
        if any(impl.hookwrapper or impl.wrapper for impl in impls):  # wrappers need pluggy's own call
            await await_all(self.pm.hook.on_startup(**values))
            return
        for impl in reversed(impls):
            try:
                result = impl.function(*[values[arg] for arg in impl.argnames])
                if inspect.isawaitable(result):
                    await self._started(impl.plugin_name, result)
            except ConfigError:
                raise
            except Exception as exc:
                log.debug("on_startup of %s failed", impl.plugin_name, exc_info=True)
                raise _startup_failed(impl, exc) from exc

    async def _started(self, name: str, result: Awaitable[object]) -> None:
        """Await one plugin's `on_startup`, saying in the log every `slow_startup_s` that the start waits for it: a
        hook awaiting a peer that never answers held the start with nothing naming it (/readyz named the step before)."""
        task = asyncio.ensure_future(result)
        waited = 0.0
        try:
            while not (await asyncio.wait({task}, timeout=self.slow_startup_s))[0]:
                waited += self.slow_startup_s
                log.warning("on_startup of %s has not returned after %g s: the start waits for it", name, waited)
            task.result()
        finally:
            task.cancel()  # the start ended meanwhile (SIGTERM, another plugin's error): a no-op once done

    async def stop(self) -> None:
        """Cancel hook tasks still running, `on_shutdown` of every plugin, close the outbound session. A plugin's
        `on_shutdown` that raises is logged under its name and the others are called all the same (pluggy's own
        call stopped at the first that raised, and the outbound session was left open)."""
        await self.tasks.close()
        try:
            values = {"config": self.config, "http": self.http}
            impls = self.pm.hook.on_shutdown.get_hookimpls()
            if any(impl.hookwrapper or impl.wrapper for impl in impls):  # wrappers need pluggy's own call
                try:
                    await await_all(self.pm.hook.on_shutdown(**values))
                except Exception:
                    log.exception("an on_shutdown hook failed")
                return
            for impl in reversed(impls):
                try:
                    await call_impl(impl, values, thread=False)
                except Exception:
                    log.exception("on_shutdown of %s failed", impl.plugin_name)
        finally:
            await self.http.close()

    @property
    def settled(self) -> bool:
        """No hook task is running."""
        return len(self.tasks) == 0

    def implementers(self, hook: str) -> list[str]:
        """Names of the plugins implementing `hook`."""
        return implementers(self.pm, hook)

    # ---- dispatch -------------------------------------------------------------------------------

    def on_written(self, written: Written) -> None:
        """Ingest listener: `on_event` for each newly logged event, `on_suggestions` for a customer message's."""
        event = written.event
        if written.seq is None:
            return
        for listener in self.event_listeners:
            try:
                listener(event, written.seq)
            except Exception:
                log.exception("the service's own on_event failed")
        self.call("on_event", event=event, seq=written.seq)
        annotation = written.annotation
        if not (event.is_customer_message and annotation is not None and annotation.suggestions):
            return
        hearers, _, reads_only = self._heard_by("on_suggestions")
        if hearers and self.clock.now_ms() - event.ts_ms <= FRESH_MS:
            # The same dicts make the webhook's answer and the panel's card: copied unless no plugin can change them.
            suggestions, detail = list(annotation.suggestions), annotation.customer_type_detail
            self.call(
                "on_suggestions",
                shop=event.shop,
                conversation=event.conversation,
                customer=event.customer,
                suggestions=suggestions if reads_only else unshared(suggestions),
                customer_type=detail if reads_only else unshared(detail),
            )

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin after the start's (the service's own hooks): the hooks' implementers are asked again."""
        self.pm.register(plugin, name=name)
        self._known.clear()

    def _heard_by(self, hook: str) -> tuple[list[pluggy.HookImpl], bool, bool]:
        known = self._known.get(hook)
        if known is None:
            impls = getattr(self.pm.hook, hook).get_hookimpls()
            wrapped = any(impl.hookwrapper or impl.wrapper for impl in impls)
            reading = all(getattr(impl.function, READS_ONLY, False) for impl in impls)
            known = self._known[hook] = (impls[::-1], wrapped, reading)
        return known

    def on_followup(self, followup: Followup) -> None:
        """`on_followup` for a created or changed follow-up."""
        self.call("on_followup", followup=followup)

    def call(self, hook: str, **kwargs: Any) -> None:
        """Call a broadcast hook, each plugin in pluggy's order; its awaitable results run as tasks. A failing
        plugin is logged under its name, and the others are called all the same (pluggy's own call stops at the
        first that raises: one broken shop plugin kept the others from hearing of the event)."""
        impls, wrapped, _ = self._heard_by(hook)
        if not impls:
            return  # no plugin has it (`on_event` for every logged event, as shipped)
        values = {"config": self.config, "http": self.http, **kwargs}
        if wrapped:  # wrappers need pluggy's own call
            try:
                results = getattr(self.pm.hook, hook)(**values)
            except Exception:
                log.exception("a %s hook failed", hook)
                return
            for result in results:
                if inspect.isawaitable(result):
                    self.tasks.spawn(_await(result), name=hook)
            return
        for impl in impls:
            started = self.timer()
            try:
                result = impl.function(*[values[arg] for arg in impl.argnames])
            except Exception as exc:
                _failed(hook, impl, exc)
                continue
            finally:
                self._timed(hook, impl, self.timer() - started)
            if inspect.isawaitable(result):
                self.tasks.spawn(self._notified(hook, impl, result), name=f"{hook} of {impl.plugin_name}")
            elif result is not None:
                self._ignored(hook, impl, result)

    async def _notified(self, hook: str, impl: pluggy.HookImpl, awaitable: Awaitable[object]) -> None:
        """An `async def` notification run to its end; what it raised is logged as a plain one's is."""
        try:
            result = await awaitable
        except Exception as exc:
            _failed(hook, impl, exc)
            return
        if result is not None:
            self._ignored(hook, impl, result)

    def _ignored(self, hook: str, impl: pluggy.HookImpl, result: object) -> None:
        """Say, once per plugin and hook, that a notification returned something: nothing reads it. A filter written
        as `on_suggestions` returning the buyer's list, or an `on_event` returning the event enriched, changed
        nothing, and nothing said so."""
        if (hook, impl.plugin_name, "result") in self._said:
            return
        self._said.add((hook, impl.plugin_name, "result"))
        file, line = where(impl.function)
        log.warning(
            "%s of %s (%s, line %s) returned %s: a notification's result is ignored, it changes nothing the service "
            "does (docs/hooks.md, what a hook cannot change); said once",
            hook,
            impl.plugin_name,
            file,
            line,
            type(result).__name__,
        )

    def _timed(self, hook: str, impl: pluggy.HookImpl, took_s: float) -> None:
        """Name a plain notification that held the event loop SLOW_CALL_S or longer, once per plugin and hook."""
        if took_s < SLOW_CALL_S or (hook, impl.plugin_name, "slow") in self._said:
            return
        self._said.add((hook, impl.plugin_name, "slow"))
        file, line = where(impl.function)
        log.warning(
            "%s of %s (%s, line %s) held the event loop %.2f s (the service answered nothing meanwhile): make it an "
            "async def, or hand its slow work to a thread (docs/hooks.md); said once",
            hook,
            impl.plugin_name,
            file,
            line,
            took_s,
        )

    # ---- adjusting hooks (assistant/suggest/adjusting.py, assistant/followups/adjusting.py) ------------

    def adjusters(self, hook: str) -> list[pluggy.HookImpl]:
        """The implementations of an adjusting hook in the order they chain (pluggy's: last registered first)."""
        return _in_turn(getattr(self.pm.hook, hook))

    def adjusting(self, hook: str, impl: pluggy.HookImpl, values: dict[str, Any], unchanged: str) -> tuple[bool, Any]:
        """One plain implementation's answer, timed: (True, answer), or (False, None) when it raised (logged naming
        the plugin and its line; `unchanged` says what is used instead)."""
        started, waited = self.timer(), self.waiting()
        try:
            result = impl.function(*[values[arg] for arg in impl.argnames])
        except Exception as exc:
            error = f"raised {type(exc).__name__}: {exc}"
            self.mistake(hook, impl, "raised", error, unchanged, raised_at(impl.function, exc), exc)
            return False, None
        finally:  # its own time read by the caller (suggest/adjusting.py: a strike towards switching it off)
            took_s = self.timer() - started
            self.last_own_s = took_s - (preempted := min(max(self.waiting() - waited, 0.0), took_s))
            if took_s >= SLOW_CALL_S:
                problem = f"took {took_s:.2f} s" + (
                    f" ({preempted:.2f} s of it preempted)" if preempted >= 0.01 else ""
                )
                self.mistake(hook, impl, "slow", problem, "the service waited for it meanwhile")
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: no second warning from the interpreter
            self.mistake(hook, impl, "type", "returned an awaitable (it must answer at once)", unchanged)
            return False, None
        return True, result

    def mistake(self, hook: str, impl: pluggy.HookImpl, kind: str, problem: str, outcome: str,
                place: tuple[str, int | str] | None = None, exc: BaseException | None = None) -> None:  # fmt: skip
        """Log a plugin's mistake in an adjusting hook, naming the plugin, the hook, its file and line and what the
        service did instead; once a minute per plugin, hook and kind, with how many there were since."""
        key, now = (hook, impl.plugin_name, kind), self.clock.now_ms()
        last, since = self._mistakes.get(key, (-MISTAKE_EVERY_MS, 0))
        if now - last < MISTAKE_EVERY_MS:
            self._mistakes[key] = (last, since + 1)
            return
        self._mistakes[key] = (now, 0)
        file, line = place or where(impl.function)
        more = f" ({since} more since the last such line)" if since else ""
        log.error(
            "%s of %s (%s, line %s) %s: %s; said once a minute%s",
            hook, impl.plugin_name, file, line, problem, outcome, more, exc_info=exc,
        )  # fmt: skip

    async def deliver(self, **kwargs: Any) -> Any:
        """The first `deliver_message` implementation that takes the message (see `first_result`). An answer that
        is not a DeliveryResult is a final failure naming the plugin: it cannot say whether the message went out."""
        answer = await first_answer(self.pm.hook.deliver_message, config=self.config, http=self.http, **kwargs)
        if answer is None:
            return None
        result, plugin = answer
        if isinstance(result, DeliveryResult):
            return result
        error = f"deliver_message of {plugin} returned {type(result).__name__}, not a DeliveryResult"
        log.error("%s: %r", error, result)
        return DeliveryResult.reject(error)

    async def confirm(self, **kwargs: Any) -> Any:
        """The first `confirm_delivery` answer other than None (None when no plugin can tell). An answer other than
        True, False or None is logged naming the plugin and counts as None: the next plugin is asked."""
        values = {"config": self.config, "http": self.http, **kwargs}
        for impl in _in_turn(self.pm.hook.confirm_delivery):
            result = await _named(impl, values)
            if result is None:
                continue
            if isinstance(result, bool):
                return result
            log.error(
                "confirm_delivery of %s returned %s, not True, False or None: taken as None (cannot tell)",
                impl.plugin_name,
                type(result).__name__,
            )
        return None


def _failed(hook: str, impl: pluggy.HookImpl, exc: Exception) -> None:
    """Log a notification that raised, naming its plugin, and its file and line nearest the error, with the traceback:
    the line said `on_event of hooks.x failed` and only the traceback's last lines where."""
    file, line = raised_at(impl.function, exc) or where(impl.function)
    error = f"{type(exc).__name__}: {exc}"
    log.error("%s of %s failed (%s, line %s): %s", hook, impl.plugin_name, file, line, error, exc_info=exc)


def where(function: Callable[..., object]) -> tuple[str, int | str]:
    """The file of a hook function (as the engineer knows it) and the line of its `def`."""
    try:
        source = inspect.getsourcefile(function) or inspect.getfile(function)
        lines, start = inspect.getsourcelines(function)
    except (TypeError, OSError):
        return getattr(function, "__module__", "?"), "?"
    defs = [i for i, text in enumerate(lines) if text.lstrip().startswith(("def ", "async def "))]
    return _shown_path(source), start + (defs[0] if defs else 0)


def raised_at(function: Callable[..., object], exc: BaseException) -> tuple[str, int] | None:
    """The line of `function`'s own file nearest where `exc` was raised, or None when it was raised elsewhere."""
    try:
        source = inspect.getsourcefile(function)
    except TypeError:
        return None
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == source and f.lineno is not None]
    return (_shown_path(frames[-1].filename), frames[-1].lineno or 0) if frames else None


def _startup_failed(impl: pluggy.HookImpl, exc: Exception) -> ConfigError:
    """`[hooks] enabled: 'name': on_startup failed: KeyError: 'url' (hooks/name.py, line 12)`."""
    name = impl.plugin_name.removeprefix("hooks.")
    error = f"{type(exc).__name__}: {exc}"
    place = raised_at(impl.function, exc)  # the plugin's own line nearest the error
    if place is None:
        return ConfigError(_("%(key)s: %(name)s: on_startup failed: %(error)s", key="[hooks] enabled", name=repr(name), error=error))  # fmt: skip
    return ConfigError(
        _(
            "%(key)s: %(name)s: on_startup failed: %(error)s (%(file)s, line %(line)s)",
            key="[hooks] enabled",
            name=repr(name),
            error=error,
            file=place[0],
            line=place[1],
        )
    )


def _shown_path(filename: str) -> str:
    """A source file as the engineer knows it: relative to the current directory when it is inside it."""
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def _await(awaitable: Any) -> None:
    await awaitable


async def await_all(results: Iterable[Any]) -> list[Any]:
    """Await the awaitable results of a hook call, in order; plain values pass through."""
    return [await r if inspect.isawaitable(r) else r for r in results]


async def first_result(hook: pluggy.HookCaller, **kwargs: Any) -> Any:
    """Call a firstresult hook's implementations in pluggy's order until one gives something other than None.

    Unlike a plain pluggy call, an `async def` implementation that resolves to None passes the
    turn to the next one, so an async plugin can decline ("not my conversation") too.
    """
    answer = await first_answer(hook, **kwargs)
    return None if answer is None else answer[0]


async def first_answer(hook: pluggy.HookCaller, **kwargs: Any) -> tuple[Any, str] | None:
    """`first_result` with the name of the plugin that gave it; an exception raised by a plugin carries a note
    naming the hook and the plugin (the log's traceback shows it)."""
    for impl in _in_turn(hook):
        result = await _named(impl, kwargs)
        if result is not None:
            return result, impl.plugin_name
    return None


def _in_turn(hook: pluggy.HookCaller) -> list[pluggy.HookImpl]:
    """A firstresult hook's implementations in pluggy's order (last registered first), wrappers left out."""
    return [impl for impl in reversed(hook.get_hookimpls()) if not (impl.hookwrapper or impl.wrapper)]


async def _named(impl: pluggy.HookImpl, values: dict[str, Any]) -> Any:
    """`call_impl`, an exception it raises noted with the hook and the plugin: `deliver_message failed for
    follow-up …` named neither, and with several plugins the engineer could not tell whose code raised."""
    try:
        return await call_impl(impl, values)
    except Exception as exc:
        exc.add_note(f"raised by {impl.function.__name__} of {impl.plugin_name}")
        raise


async def call_impl(impl: pluggy.HookImpl, values: dict[str, Any], *, thread: bool = True) -> Any:
    """One implementation's result: an `async def` awaited on the event loop, a plain function run in a worker
    thread, since a delivery may block (a plain HTTP client): on the loop it held every request up, and no
    time limit could stop it (`thread=False`: on the loop, as the notifications are)."""
    args = [values[name] for name in impl.argnames]
    if inspect.iscoroutinefunction(impl.function):
        return await impl.function(*args)
    result = await asyncio.to_thread(impl.function, *args) if thread else impl.function(*args)
    return await result if inspect.isawaitable(result) else result


def implementers(pm: pluggy.PluginManager, hook: str) -> list[str]:
    """Names of the plugins implementing `hook`."""
    caller = getattr(pm.hook, hook)
    return [impl.plugin_name for impl in caller.get_hookimpls()]
