"""One supervised actor per loaded plugin: hook calls with deadlines, failures counted.

    PluginActor (one per plugin id, child of the host's "plugins" supervisor)
      mailbox: HookCall | Swap | Unload | Pause | Resume, handled one at a time (so a hook
      call in flight finishes on the version it started on; the swap waits behind it)

An operator's stop (`parley ops plugin stop ID`) is a Pause: `on_stop` runs, the state is
`stopped` and hook calls are skipped (their Kafka records still acked: a stopped bot does
not answer later what was said while it was stopped). A new version swapped in meanwhile is
loaded but stays stopped; Resume runs `on_start` on the current version.

Failure policy (plugin.toml `[runtime]`): a hook call that raises or overruns its deadline
counts as a failure; `max_failures` in a row restart the plugin (its version is loaded again
as a fresh module, `on_start` runs again), at most `restarts` times; then the plugin stays
`failed` and its hook calls are skipped until a new version is swapped in. A bug of the host
itself (not the plugin's code) crashes the actor, and the supervisor restarts it with its
state kept in the PluginSlot.

A hook that busy-loops the CPU cannot be interrupted inside one Trio process: no deadline
fires while it never yields. That is why plugins run in their own process (`--role plugins`),
away from the chat path.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import trio

from actors import Actor, MailboxPolicy

from ._context import HookContext, PluginServices
from ._errors import PluginLoadError
from ._loader import LoadedPlugin, load_plugin, ui_version, unload
from ._manifest import bot_user_id

__all__ = [
    "HookCall",
    "Pause",
    "PluginActor",
    "PluginSlot",
    "PluginState",
    "Resume",
    "Swap",
    "Unload",
]

log = logging.getLogger(__name__)
_DURATIONS = 1_000
_LOG_LINES = 200


class PluginState(StrEnum):
    LOADING = "loading"  #: no version accepted yet
    RUNNING = "running"
    FAILED = "failed"  #: kept failing; waits for a new version
    REFUSED = "refused"  #: its only version was refused (see last_error)
    STOPPED = "stopped"  #: left the workspace, or stopped by an operator (see stopped_by)


@dataclass(frozen=True, slots=True)
class HookCall:
    hook: str
    args: tuple[Any, ...]
    #: what caused it: reply ids are derived from it (see plugins._context)
    trigger: str
    thread_id: str | None
    #: called once the call ended, however it ended (the host acks the Kafka record)
    done: Callable[[], None] | None = None
    #: trio.current_time() when the host consumed the trigger (None: not from Kafka)
    consumed_at: float | None = None


@dataclass(frozen=True, slots=True)
class Swap:
    """Replace the running version with `loaded` (already loaded and self-checked)."""

    loaded: LoadedPlugin


@dataclass(frozen=True, slots=True)
class Unload:
    """The plugin left the workspace: stop it for good."""


@dataclass(frozen=True, slots=True)
class Pause:
    """An operator stopped the plugin: run `on_stop`, then skip hook calls until Resume."""

    asked_by: str


@dataclass(frozen=True, slots=True)
class Resume:
    """An operator started the plugin again: `on_start` on the current version."""

    asked_by: str


PluginMsg = HookCall | Swap | Unload | Pause | Resume


class _RingHandler(logging.Handler):
    def __init__(self, lines: deque[str]) -> None:
        super().__init__()
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime(record.created))
        self._lines.append(f"{stamp} {record.levelname} {record.getMessage()}")


@dataclass(eq=False)
class PluginSlot:
    """A plugin's lasting state in this host: survives actor restarts and version swaps."""

    plugin_id: str
    folder: str = ""
    loaded: LoadedPlugin | None = None
    state: PluginState = PluginState.LOADING
    last_error: str = ""
    #: why the newest version found in the workspace was refused (the old one serves on)
    refusal: str = ""
    #: the operator who stopped it ("" while it is not stopped by an operator)
    stopped_by: str = ""
    hook_calls: int = 0
    failures: int = 0
    failures_in_row: int = 0
    restarts: int = 0
    skipped: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=_DURATIONS))
    #: trigger consumed -> hook call over (its replies accepted by Kafka), mailbox included
    turnarounds: deque[float] = field(default_factory=lambda: deque(maxlen=_DURATIONS))
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=_LOG_LINES))
    logger: logging.Logger = field(init=False)

    def __post_init__(self) -> None:
        self.logger = logging.getLogger(f"parley.plugin.{self.plugin_id}")
        if not any(isinstance(h, _RingHandler) for h in self.logger.handlers):
            self.logger.addHandler(_RingHandler(self.logs))
        else:
            for handler in self.logger.handlers:
                if isinstance(handler, _RingHandler):
                    handler._lines = self.logs

    @property
    def bot_user_id(self) -> str:
        return bot_user_id(self.plugin_id)

    def percentile_ms(self, q: float, samples: deque[float] | None = None) -> float | None:
        samples = self.durations if samples is None else samples
        if not samples:
            return None
        ordered = sorted(samples)
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return round(ordered[rank] * 1000, 3)

    def record_error(self, error: str) -> None:
        self.last_error = error
        self.logger.error("%s", error)

    def status(self) -> dict[str, Any]:
        """What `parley plugin list` and `GET /api/plugins` show."""
        loaded = self.loaded
        return {
            "id": self.plugin_id,
            "version": loaded.manifest.version if loaded else "",
            "commit": loaded.source.commit if loaded else "",
            "state": self.state.value,
            "stopped_by": self.stopped_by or None,
            "last_error": self.refusal or self.last_error,
            "bot_user_id": self.bot_user_id,
            "description": loaded.manifest.description if loaded else "",
            "browser_entry": loaded.manifest.browser_entry if loaded else None,
            "ui_url": (
                f"/plugins/{self.plugin_id}/{ui_version(loaded)}/{loaded.manifest.browser_entry}"
                if loaded and loaded.manifest.browser_entry
                else None
            ),
            "hook_calls": self.hook_calls,
            "failures": self.failures,
            "restarts": self.restarts,
            "skipped": self.skipped,
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
            "trigger_p50_ms": self.percentile_ms(0.5, self.turnarounds),
            "trigger_p99_ms": self.percentile_ms(0.99, self.turnarounds),
            "counters": dict(self.counts),
        }


class Journal(Protocol):
    """Where hook calls in flight are written down, so that a trigger during which the host
    died (a busy loop killed by the parent's probe, a crash) is not run again forever."""

    async def begin(self, plugin_id: str, thread_id: str, trigger: str) -> None: ...

    def end(self, plugin_id: str, thread_id: str, trigger: str) -> None: ...

    async def unfinished(self, plugin_id: str) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class RuntimeDeps:
    services: PluginServices
    max_text_bytes: int = 16_384
    config_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal: Journal | None = None


class PluginActor(Actor[PluginMsg]):
    """Runs one plugin's hooks; see the module docstring for the failure policy."""

    mailbox_capacity = 256
    mailbox_policy = MailboxPolicy.REJECT
    stop_grace = 10.0

    def __init__(
        self,
        slot: PluginSlot,
        deps: RuntimeDeps,
        on_swapped: Callable[[str], None] | None = None,
        on_state_changed: Callable[[], None] | None = None,
    ) -> None:
        self.slot = slot
        self.deps = deps
        self._on_swapped = on_swapped
        self._on_state_changed = on_state_changed
        self._poison: set[str] = set()

    async def on_started(self) -> None:
        journal = self.deps.journal
        if journal is not None:
            self._poison = await journal.unfinished(self.slot.plugin_id)
        if self.slot.loaded is not None and self.slot.state is PluginState.RUNNING:
            await self._call(
                self.slot.loaded, HookCall("on_start", (), self._start_trigger(), None)
            )

    async def receive(self, msg: PluginMsg) -> None:
        if isinstance(msg, HookCall):
            try:
                await self._deliver(msg)
            finally:
                if msg.done is not None:
                    msg.done()
        elif isinstance(msg, Swap):
            await self._swap(msg.loaded)
        elif isinstance(msg, Pause):
            await self._pause(msg.asked_by)
        elif isinstance(msg, Resume):
            await self._resume(msg.asked_by)
        else:
            await self._unload()
            self.stop()

    async def on_stopping(self) -> None:
        loaded = self.slot.loaded
        if loaded is not None and self.slot.state is PluginState.RUNNING:
            await self._call(loaded, HookCall("on_stop", (), "stop", None), count=False)

    # --- pieces -------------------------------------------------------------------------
    def _start_trigger(self) -> str:
        loaded = self.slot.loaded
        return f"start:{loaded.key if loaded else ''}:{self.slot.restarts}"

    async def _deliver(self, call: HookCall) -> None:
        slot = self.slot
        loaded = slot.loaded
        if loaded is None or slot.state is not PluginState.RUNNING:
            slot.skipped += 1
            return
        if call.hook not in loaded.hooks:
            return
        if call.trigger in self._poison:
            # It was running when a host died: run it again and the host may die again.
            self._poison.discard(call.trigger)
            slot.failures += 1
            slot.failures_in_row += 1
            slot.record_error(
                f"{call.hook} for {call.trigger} was running when its host died "
                "(a crash, or a busy loop killed by the probe): not run again"
            )
        elif await self._journaled(loaded, call):
            if call.consumed_at is not None:
                slot.turnarounds.append(trio.current_time() - call.consumed_at)
            return
        if slot.failures_in_row < loaded.manifest.runtime.max_failures:
            return
        if slot.restarts < loaded.manifest.runtime.restarts:
            await self._restart(loaded)
        else:
            slot.state = PluginState.FAILED
            slot.logger.error(
                "failed %d times in a row after %d restarts: stopped until a new version loads",
                slot.failures_in_row,
                slot.restarts,
            )

    async def _journaled(self, loaded: LoadedPlugin, call: HookCall) -> bool:
        journal = self.deps.journal
        if journal is None or call.thread_id is None:
            return await self._call(loaded, call)
        await journal.begin(self.slot.plugin_id, call.thread_id, call.trigger)
        try:
            return await self._call(loaded, call)
        finally:
            journal.end(self.slot.plugin_id, call.thread_id, call.trigger)

    async def _restart(self, loaded: LoadedPlugin) -> None:
        slot = self.slot
        slot.restarts += 1
        slot.failures_in_row = 0
        await self._call(loaded, HookCall("on_stop", (), "stop", None), count=False)
        try:
            fresh = load_plugin(loaded.source)
        except PluginLoadError as exc:
            slot.state = PluginState.FAILED
            slot.record_error(str(exc))
            return
        fresh.config = loaded.config
        unload(loaded)
        slot.loaded = fresh
        slot.logger.warning("restarted (%d of %d)", slot.restarts, loaded.manifest.runtime.restarts)
        await self._call(fresh, HookCall("on_start", (), self._start_trigger(), None))

    async def _swap(self, new: LoadedPlugin) -> None:
        slot = self.slot
        old = slot.loaded
        if old is not None:
            if slot.state is PluginState.RUNNING:
                await self._call(old, HookCall("on_stop", (), "stop", None), count=False)
            unload(old)
        slot.loaded = new
        slot.failures_in_row = 0
        slot.restarts = 0
        slot.last_error = ""
        if self._on_swapped is not None:
            self._on_swapped(slot.plugin_id)
        if slot.stopped_by:
            slot.state = PluginState.STOPPED
            slot.logger.info(
                "version %s (%s) loaded; stays stopped (by %s)",
                new.manifest.version,
                new.source.commit,
                slot.stopped_by,
            )
            return
        slot.state = PluginState.RUNNING
        slot.logger.info("running version %s (%s)", new.manifest.version, new.source.commit)
        await self._call(new, HookCall("on_start", (), self._start_trigger(), None))

    def _state_changed(self) -> None:
        if self._on_state_changed is not None:
            self._on_state_changed()

    async def _pause(self, asked_by: str) -> None:
        slot = self.slot
        loaded = slot.loaded
        if loaded is not None and slot.state is PluginState.RUNNING:
            await self._call(loaded, HookCall("on_stop", (), "stop", None), count=False)
        slot.stopped_by = asked_by
        if loaded is not None:
            slot.state = PluginState.STOPPED
        slot.logger.warning("stopped by operator %s", asked_by)
        self._state_changed()

    async def _resume(self, asked_by: str) -> None:
        slot = self.slot
        slot.stopped_by = ""
        loaded = slot.loaded
        if loaded is None or slot.state is not PluginState.STOPPED:
            return
        slot.state = PluginState.RUNNING
        slot.failures_in_row = 0
        slot.logger.warning("started by operator %s", asked_by)
        self._state_changed()
        await self._call(loaded, HookCall("on_start", (), self._start_trigger(), None))

    async def _unload(self) -> None:
        slot = self.slot
        old = slot.loaded
        if old is not None:
            if slot.state is PluginState.RUNNING:
                await self._call(old, HookCall("on_stop", (), "stop", None), count=False)
            unload(old)
        slot.loaded = None
        slot.state = PluginState.STOPPED

    async def _call(self, loaded: LoadedPlugin, call: HookCall, *, count: bool = True) -> bool:
        """Run one hook within its deadline; True when it returned normally."""
        fn = loaded.hooks.get(call.hook)
        if fn is None:
            return True
        slot = self.slot
        manifest = loaded.manifest
        ctx = HookContext(
            plugin_id=manifest.id,
            bot_user_id=manifest.bot_user_id,
            version=manifest.version,
            commit=loaded.source.commit,
            config=self._config(loaded),
            log=slot.logger,
            services=self.deps.services,
            counts=slot.counts,
            trigger=call.trigger,
            thread_id=call.thread_id,
            max_text_bytes=self.deps.max_text_bytes,
        )
        timeout = manifest.runtime.hook_timeout_s
        started = trio.current_time()
        error = ""
        with trio.move_on_after(timeout) as scope:
            try:
                await fn(ctx, *call.args)
            except Exception as exc:  # the plugin's bug; Cancelled (a BaseException) passes
                error = f"{call.hook} raised {type(exc).__name__}: {exc}"
                # Formatted now, not kept as exc_info: a kept traceback holds the frames,
                # and through them the old version's module, long after a swap.
                slot.logger.error("%s\n%s", error, "".join(traceback.format_exception(exc)))
        if scope.cancelled_caught:
            error = f"{call.hook} did not finish within {timeout:g} s"
            slot.logger.error("%s", error)
        slot.hook_calls += 1
        slot.durations.append(trio.current_time() - started)
        if not error:
            slot.failures_in_row = 0
            return True
        slot.last_error = error
        if count:
            slot.failures += 1
            slot.failures_in_row += 1
        return False

    def _config(self, loaded: LoadedPlugin) -> dict[str, Any]:
        from ._manifest import validate_config

        if loaded.config is not None:
            return dict(loaded.config)  # validated by the host when it was loaded
        overrides = self.deps.config_overrides.get(loaded.manifest.id, {})
        return validate_config(loaded.manifest, overrides)
