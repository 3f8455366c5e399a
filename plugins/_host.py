"""The plugin host role: chat.events in, hook calls to plugin actors, replies to chat.commands.

    KafkaConsumer(chat.events, group "plugins") ─▶ dispatch ─▶ Supervisor "plugins"
                                                                 └▶ PluginActor(<id>) ...
    workspace watcher (dev: file events; both: HEAD and pins) ─▶ reconcile ─▶ Swap / spawn
    parley.plugin-versions (commit mode) ─▶ announced versions ─▶ reconcile
       ▲ a plugin changed in this host's workspace: its new version is published
    status publisher ─▶ collection plugin_status (what `parley plugin list/logs` read)
                     ◀─ collection plugin_switches (operators' stop/start): Pause / Resume
    scheduler ─▶ due `post_later` messages ─▶ chat.commands

Run in a process of its own (`parley serve --role plugins`): a plugin that hangs is cut at
its deadline, but one that busy-loops holds the whole event loop, and it must only ever hold
the plugins, never the chat path. Several hosts share the work through the consumer group
(partitions by thread), so each trigger is handled by one host; replies carry ids derived
from the trigger, so a trigger handled twice (a rebalance, a crash) still posts once.

Convergence (commit mode): every host runs, for each plugin, the version of the newest record
of the compacted topic `parley.plugin-versions` (protocol.plugins), whatever its own
workspace's HEAD says; a plugin that changes in a host's own workspace (a commit, a pin) is
published there first. A commit this host's clone lacks is fetched from its `origin` (retried
at every poll until it is there: the author may push after committing); meanwhile the version
already running keeps serving and the error says why. Dev mode does not take part: a working
tree is one machine's, and a dirty version is no commit another host could fetch.

Membership: a MembershipEvent is compared with the members last seen for the thread (kept in
collection plugin_threads, so a restart does not replay joins): no earlier record means the
thread was created (`on_thread_created`), otherwise the difference gives `on_member_added` /
`on_member_removed`. A thread the host has no record of yet (it existed before plugins
started) counts as created when its next MembershipEvent comes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import trio

from actors import MailboxFull, Restart, start_service
from adapters import (
    AdapterError,
    ConsumedRecord,
    DocumentCollection,
    KafkaConsumer,
    ProcessBoard,
    backoff_delays,
    ensure_topics,
    read_files,
    watch_changes,
)
from assistants import AssistantConfig, AssistantConfigError, AssistantDirectory
from protocol.events import EventDecodeError, MembershipEvent, MessageEvent, decode_event
from protocol.plugins import PluginVersion, decode_plugin_version

from ._config import config_fingerprint, read_config
from ._errors import ManifestError, PluginError, PluginLoadError, WorkspaceError
from ._loader import LoadedPlugin, load_plugin, ui_version
from ._manifest import Manifest, bot_user_id
from ._priority import lower_cpu_priority
from ._route_host import new_route_secret, route_host_blueprint
from ._runtime import (
    HookCall,
    Pause,
    PluginActor,
    PluginMsg,
    PluginSlot,
    PluginState,
    Resume,
    RuntimeDeps,
    Swap,
    Unload,
)
from ._services import HostServices
from ._settings import Mode, PluginSettings, load_plugin_settings
from ._workspace import ScanResult, Workspace
from .api import MemberChange, Message, Thread

if TYPE_CHECKING:
    from quart import Blueprint

    from actors import ActorRef, ActorSystem, Supervisor
    from adapters import KafkaOptions, KafkaProducer, MongoStore, SharedAdapters
    from config.settings import Settings
    from protocol.ops import PluginSwitch
    from telemetry import ProcessStatus

__all__ = ["PluginHost", "start_plugin_host"]

log = logging.getLogger("parley.plugins")
_FULL_MAILBOX_RETRY_S = 0.01
_STATUS_EVERY_S = 1.0
#: a plugin's fields in the process announcement (`parley ops ps`)
_ANNOUNCED = ("id", "version", "commit", "state", "stopped_by")
_SCHEDULE_EVERY_S = 0.5
_DEV_POLL_S = 2.0
_MEMBER_CACHE = 50_000
_ASSET_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".html": "text/html",
}
_LATEST: dict[str, Any] = {"auto.offset.reset": "latest"}
_EARLIEST: dict[str, Any] = {"auto.offset.reset": "earliest"}


async def start_plugin_host(
    system: ActorSystem,
    settings: Settings,
    status: ProcessStatus,
    shared: SharedAdapters,
    plugin_settings: PluginSettings | None = None,
) -> PluginHost:
    """Assemble and start the plugin host inside `system` (after store and producer).

    /readyz waits for the host's events consumer to be assigned: a bot only answers what
    arrives after that (a new consumer group starts at the end of chat.events).
    """
    ps = plugin_settings or load_plugin_settings()
    lower_cpu_priority(ps.cpu_priority)
    host = PluginHost(settings, ps, shared.kafka, shared.store, shared.producer)
    consumer = host.consumer
    status.add_probe(
        "plugins",
        lambda: (True, "listening") if consumer.assigned else (False, "joining chat.events"),
    )
    status.add_plugins(host.report)
    await host.start(system)
    return host


class PluginHost:
    def __init__(
        self,
        settings: Settings,
        plugin_settings: PluginSettings,
        kafka: KafkaOptions,
        store: MongoStore,
        producer: KafkaProducer,
    ) -> None:
        self.settings = settings
        self.plugin_settings = plugin_settings
        self.host_id = settings.gateway_id or f"{socket.gethostname()}-{os.getpid()}"
        # Plugin HTTP routes: where gateways call this host, and the secret they show
        # (both published with the status; see plugins._route_host).
        self.route_secret = new_route_secret()
        self.routes_url = plugin_settings.routes_url or _own_url(settings)
        self.workspace = Workspace(
            plugin_settings.workspace_path(settings.state_dir),
            plugin_settings.mode,
            plugin_settings.cache_path(settings.state_dir),
        )
        self.config_dir = plugin_settings.config_path(settings.state_dir)
        self._kafka = kafka
        self._producer = producer
        #: the newest record of each plugin on the versions topic (commit mode)
        self.announced: dict[str, PluginVersion] = {}
        #: plugin id -> tree, as this host's own workspace gave it at the previous scan
        self._local: dict[str, str] | None = None
        #: an announced version could not be had yet: scan again at every poll
        self._unresolved = False
        #: the key (version and config digest) of what each plugin runs or is swapping to
        self._keys: dict[str, str] = {}
        self._store = store
        self._members: dict[str, tuple[str, ...]] = {}
        self._threads = DocumentCollection(store, "plugin_threads")
        self._status = DocumentCollection(store, "plugin_status")
        self._assets = DocumentCollection(store, "plugin_assets")
        self._board = ProcessBoard(store)
        #: operators' stop/start by plugin id, as last read from the store
        self.switches: dict[str, PluginSwitch] = {}
        self._assistants = AssistantDirectory(store, context_tokens=settings.llm_context_tokens)
        self.services = HostServices(settings, store, producer, self.members)
        self.journal = _StoreJournal(DocumentCollection(store, "plugin_inflight"))
        self._deps = RuntimeDeps(self.services, settings.max_text_bytes, journal=self.journal)
        self.slots: dict[str, PluginSlot] = {}
        self._refs: dict[str, ActorRef[PluginMsg]] = {}
        self._pending: dict[str, str] = {}
        self._folder_ids: dict[str, str] = {}
        self._supervisor: Supervisor | None = None
        self._fingerprint: tuple[str, ...] = ()
        self._changed = trio.Event()
        #: set when an actor changes its plugin's state: the status is published at once
        self._status_due = trio.Event()
        #: what the announcement reports: the states as last written to plugin_status, so
        #: whoever sees a state in `parley ops ps` finds it in `GET /api/plugins` too
        self._published: list[dict[str, Any]] = []
        self.reconciled = 0
        self.consumer = KafkaConsumer(
            kafka,
            [settings.events_topic],
            plugin_settings.group,
            # A new plugin group starts at the end: bots answer what is said from now on,
            # not the whole history.
            **_LATEST,
        )
        self.versions_consumer = KafkaConsumer(
            kafka,
            [plugin_settings.versions_topic],
            # A group of its own, new at every start: each host reads the whole compacted
            # topic (every plugin's newest version), never a share of it.
            f"{plugin_settings.group}-versions-{self.host_id}-{os.urandom(3).hex()}",
            **_EARLIEST,
        )

    # --- assembly -----------------------------------------------------------------------
    async def start(self, system: ActorSystem) -> None:
        created = await self.workspace.ensure()
        if created:
            log.info("plugin workspace created", extra={"path": str(self.workspace.path)})
        else:
            await self._offer_examples()
        self._supervisor = await system.start_supervisor("plugins", max_restarts=50, within=10.0)
        try:
            # Before the first load: a plugin an operator stopped never starts here.
            self.switches = await self._board.plugin_switches()
        except AdapterError as exc:
            log.warning("plugin switches not read yet", extra={"why": str(exc)})
        await self.rescan()
        services: list[tuple[str, Any]] = [
            ("plugin-events", self.consumer),
            ("plugin-dispatcher", _Task(self._dispatch)),
            ("plugin-watcher", _Task(self._watch)),
            ("plugin-scheduler", _Task(self._schedule)),
            ("plugin-status", _Task(self._publish_status)),
        ]
        if self.workspace.mode is Mode.COMMIT:
            await ensure_topics(
                self._kafka,
                [self.plugin_settings.versions_topic],
                partitions=1,
                config={"cleanup.policy": "compact"},
            )
            services += [
                ("plugin-versions", self.versions_consumer),
                ("plugin-versions-reader", _Task(self._read_versions)),
            ]
        for name, service in services:
            await start_service(system, name, service)

    async def _offer_examples(self) -> None:
        """A bundled example this workspace was never offered is added and committed; a
        failure (a merge in progress, a bad record) is logged and the host starts anyway."""
        try:
            added = await self.workspace.offer_examples()
        except (WorkspaceError, OSError) as exc:
            log.warning("bundled examples not offered", extra={"why": str(exc)})
            return
        if added:
            log.info(
                "bundled examples added to the plugin workspace",
                extra={"path": str(self.workspace.path), "plugins": added},
            )

    def routes_blueprint(self) -> Blueprint:
        """The internal endpoint the gateways call plugin routes through (HTTP server)."""
        return route_host_blueprint(self.slots, self._deps, self.route_secret)

    # --- membership -----------------------------------------------------------------------
    async def members(self, thread_id: str) -> tuple[str, ...]:
        cached = self._members.get(thread_id)
        if cached is None:
            thread = await self._store.get_thread(thread_id)
            cached = thread.members if thread is not None else ()
            if len(self._members) > _MEMBER_CACHE:
                self._members.clear()
            self._members[thread_id] = cached
        return cached

    # --- events -----------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        async for record in self.consumer:
            consumed_at = trio.current_time()
            try:
                event = decode_event(record.value or b"")
            except EventDecodeError as exc:
                log.warning("undecodable event skipped", extra={"why": str(exc)})
                self.consumer.ack(record)
                continue
            delays = backoff_delays(first=0.2)
            while True:
                try:
                    calls: list[tuple[str, HookCall]] = []
                    if isinstance(event, MessageEvent):
                        calls = await self._on_message(event)
                    elif isinstance(event, MembershipEvent):
                        calls = await self._on_membership(event)
                    break
                except AdapterError as exc:
                    # The store is out (membership lookups): retry this record, in order,
                    # rather than crash a part of the process over an outage.
                    log.warning("event not handled yet; retrying", extra={"why": str(exc)})
                    await trio.sleep(next(delays))
            await self._hand_out(record, calls, consumed_at)

    async def _hand_out(
        self, record: ConsumedRecord, calls: list[tuple[str, HookCall]], consumed_at: float
    ) -> None:
        if not calls:
            self.consumer.ack(record)
            return
        left = [len(calls)]

        def done() -> None:
            left[0] -= 1
            if left[0] == 0:
                self.consumer.ack(record)

        for plugin_id, call in calls:
            ref = self._refs.get(plugin_id)
            if ref is None or not ref.alive:
                done()
                continue
            while True:
                try:
                    ref.tell(_with_done(call, done, consumed_at))
                    break
                except MailboxFull:
                    await trio.sleep(_FULL_MAILBOX_RETRY_S)

    def _running_bots(self) -> dict[str, str]:
        return {bot_user_id(pid): pid for pid in self._refs}

    async def _on_message(self, event: MessageEvent) -> list[tuple[str, HookCall]]:
        if event.sender_id.startswith("plugin:"):
            return []  # bots never trigger bots: no reply loops
        bots = self._running_bots()
        members = await self.members(event.thread_id)
        message = Message(
            event.thread_id,
            event.seq,
            event.message_id,
            event.sender_id,
            event.text,
            event.created_at,
        )
        return [
            (bots[m], HookCall("on_message", (message,), event.message_id, event.thread_id))
            for m in members
            if m in bots
        ]

    async def _on_membership(self, event: MembershipEvent) -> list[tuple[str, HookCall]]:
        thread_id = event.thread_id
        new = tuple(event.members)
        self._members[thread_id] = new
        seen = await self._threads.get(thread_id)
        await self._threads.put(thread_id, {"members": list(new)})
        bots = self._running_bots()
        digest = hashlib.sha1("\0".join(new).encode()).hexdigest()[:12]
        calls: list[tuple[str, HookCall]] = []
        if seen is None:
            thread = Thread(thread_id, new)
            for member in new:
                if member in bots:
                    trigger = f"created:{thread_id}"
                    calls.append(
                        (bots[member], HookCall("on_thread_created", (thread,), trigger, thread_id))
                    )
            return calls
        old = tuple(seen.get("members", ()))
        for hook, users, audience in (
            ("on_member_added", [u for u in new if u not in old], new),
            ("on_member_removed", [u for u in old if u not in new], old),
        ):
            for user in users:
                change = MemberChange(thread_id, user, new)
                for member in audience:
                    if member in bots:
                        trigger = f"{hook}:{thread_id}:{user}:{digest}"
                        calls.append((bots[member], HookCall(hook, (change,), trigger, thread_id)))
        return calls

    # --- versions ---------------------------------------------------------------------------
    async def reconcile(self, scan: ScanResult) -> None:
        """Bring the running plugins to what the scan found; refusals keep the old serving."""
        self.reconciled += 1
        self._folder_ids.update(scan.folders)
        for plugin_id, source in scan.sources.items():
            slot = self.slots.get(plugin_id)
            try:
                config, config_key = await read_config(self.config_dir, source.manifest)
            except ManifestError as exc:
                self._refuse(plugin_id, str(exc))
                continue
            key = f"{source.commit}/{source.digest}#{config_key}"
            running = slot is not None and slot.loaded is not None and plugin_id in self._refs
            if running and self._keys.get(plugin_id) == key:
                assert slot is not None
                slot.refusal = ""
                continue
            try:
                assistant = self._assistant_config(source.manifest)
                loaded = load_plugin(source)
            except (PluginLoadError, AssistantConfigError) as exc:
                self._refuse(plugin_id, str(exc))
                continue
            loaded.config = config
            self._keys[plugin_id] = key
            await self._publish_assets(loaded)
            await self._publish_assistant(loaded, assistant)
            if slot is None or plugin_id not in self._refs:
                slot = slot or PluginSlot(plugin_id)
                slot.loaded, slot.state, slot.refusal = loaded, PluginState.RUNNING, ""
                switch = self.switches.get(plugin_id)
                if switch is not None and not switch.running:
                    slot.state, slot.stopped_by = PluginState.STOPPED, switch.asked_by
                self.slots[plugin_id] = slot
                self._spawn(slot)
            else:
                slot.refusal = ""
                self._pending[plugin_id] = key
                self._refs[plugin_id].tell(Swap(loaded))
            log.info(
                "plugin version accepted",
                extra={
                    "plugin": plugin_id,
                    "version": source.manifest.version,
                    "commit": source.commit,
                },
            )
        for key, error in scan.errors.items():
            self._refuse(self._folder_ids.get(key, key), error)
        gone = (
            set(self.slots) - set(scan.sources) - {self._folder_ids.get(k, k) for k in scan.errors}
        )
        for plugin_id in gone:
            ref = self._refs.pop(plugin_id, None)
            if ref is not None and ref.alive:
                ref.tell(Unload())
            del self.slots[plugin_id]
            self._keys.pop(plugin_id, None)
            await self._publish_assistant_gone(plugin_id)

    def _assistant_config(self, manifest: Manifest) -> AssistantConfig | None:
        """The `[assistant]` table checked against this deployment's model context."""
        if manifest.assistant is None:
            return None
        try:
            return AssistantConfig.load(
                manifest.assistant, context_tokens=self.settings.llm_context_tokens
            )
        except AssistantConfigError as exc:
            raise AssistantConfigError(f"{manifest.path}: {exc}", key=exc.key) from None

    async def _publish_assistant(
        self, loaded: LoadedPlugin, config: AssistantConfig | None
    ) -> None:
        """Tell the cores (collection `assistants`) that this plugin's bot is an assistant,
        with its config; a version without `[assistant]` is one no longer."""
        member = loaded.manifest.bot_user_id
        try:
            if config is None:
                await self._assistants.unregister(member)
            else:
                await self._assistants.register(member, config, version=loaded.manifest.version)
        except AdapterError as exc:
            log.warning("assistant not published", extra={"plugin": member, "why": str(exc)})

    async def _publish_assistant_gone(self, plugin_id: str) -> None:
        try:
            await self._assistants.unregister(bot_user_id(plugin_id))
        except AdapterError as exc:
            log.warning("assistant not withdrawn", extra={"plugin": plugin_id, "why": str(exc)})

    async def _publish_assets(self, loaded: LoadedPlugin) -> None:
        """Put a version's browser files in the store, under an immutable versioned path
        (`/plugins/<id>/<ui version>/<file>`), for whichever gateway serves the browser."""
        manifest = loaded.manifest
        if manifest.browser_entry is None:
            return
        try:
            files = await read_files(loaded.source.root)
            for rel, content in files.items():
                kind = _ASSET_TYPES.get(PurePosixPath(rel).suffix)
                if kind is not None:
                    key = f"{manifest.id}/{ui_version(loaded)}/{rel}"
                    await self._assets.put(key, {"content": content, "content_type": kind})
        except (AdapterError, OSError) as exc:
            log.warning("browser files not published", extra={"why": str(exc)})

    def _refuse(self, plugin_id: str, error: str) -> None:
        slot = self.slots.get(plugin_id)
        if slot is None:
            slot = self.slots[plugin_id] = PluginSlot(plugin_id, state=PluginState.REFUSED)
        if slot.refusal != error:
            slot.logger.error("version refused: %s", error)
        slot.refusal = error

    def _spawn(self, slot: PluginSlot) -> None:
        assert self._supervisor is not None
        deps = self._deps
        self._refs[slot.plugin_id] = self._supervisor.spawn(
            lambda: PluginActor(
                slot, deps, on_swapped=self._swapped, on_state_changed=self._publish_soon
            ),
            name=slot.plugin_id,
            restart=Restart.TRANSIENT,
        )

    def _publish_soon(self) -> None:
        self._status_due.set()

    def _swapped(self, plugin_id: str) -> None:
        self._pending.pop(plugin_id, None)

    async def _fingerprint_now(self) -> tuple[str, ...]:
        pins = await self.workspace.pins()
        return (
            await self.workspace.head(),
            await config_fingerprint(self.config_dir),
            *sorted(f"{k}={v}" for k, v in pins.items()),
        )

    async def rescan(self) -> None:
        try:
            scan = await self.workspace.scan()
        except PluginError as exc:
            log.warning("workspace scan failed", extra={"why": str(exc)})
            return
        if self.workspace.mode is Mode.COMMIT:
            await self._publish_local_changes(scan)
            await self._follow_announced(scan)
        await self.reconcile(scan)

    # --- convergence (commit mode; see the module docstring) ------------------------------
    async def _read_versions(self) -> None:
        async for record in self.versions_consumer:
            try:
                announced = decode_plugin_version(record.value or b"")
            except EventDecodeError as exc:
                log.warning("undecodable plugin version skipped", extra={"why": str(exc)})
                announced = None
            if announced is not None and announced != self.announced.get(announced.plugin_id):
                self.announced[announced.plugin_id] = announced
                self._changed.set()
            self.versions_consumer.ack(record)

    async def _publish_local_changes(self, scan: ScanResult) -> None:
        local = {pid: scan.sources[pid].digest for pid in scan.commits if pid in scan.sources}
        previous, self._local = self._local, local
        if previous is None:
            return  # the first scan is a baseline: only what changes from now on is news
        for plugin_id, tree in local.items():
            known = self.announced.get(plugin_id)
            if previous.get(plugin_id) == tree or (known is not None and known.tree == tree):
                continue
            record = PluginVersion(
                plugin_id=plugin_id,
                version=scan.sources[plugin_id].manifest.version,
                commit=scan.commits[plugin_id],
                tree=tree,
                announced_by=self.host_id,
                announced_at=time.time(),
            )
            try:
                await self._producer.produce(
                    self.plugin_settings.versions_topic, record.encode(), key=plugin_id
                )
            except AdapterError as exc:
                log.warning("plugin version not announced", extra={"why": str(exc)})
                local[plugin_id] = previous.get(plugin_id, "")  # retried at the next scan
                self._unresolved = True
                continue
            self.announced[plugin_id] = record
            log.info(
                "plugin version announced",
                extra={"plugin": plugin_id, "version": record.version, "commit": record.commit},
            )

    async def _follow_announced(self, scan: ScanResult) -> None:
        unresolved = False
        for plugin_id, wanted in self.announced.items():
            have = scan.sources.get(plugin_id)
            if have is not None and have.digest == wanted.tree:
                continue
            try:
                scan.sources[plugin_id] = await self.workspace.source_at(plugin_id, wanted.commit)
            except PluginError as exc:
                unresolved = True
                scan.sources.pop(plugin_id, None)
                scan.errors[plugin_id] = (
                    f"version {wanted.version} ({wanted.commit[:12]}) announced by "
                    f"{wanted.announced_by} not loaded yet: {exc}"
                )
                continue
            scan.errors.pop(plugin_id, None)
            scan.commits[plugin_id] = wanted.commit
        self._unresolved = unresolved or self._unresolved

    async def _watch(self) -> None:
        self._fingerprint = await self._fingerprint_now()
        self._changed = trio.Event()
        dev = self.workspace.mode is Mode.DEV
        poll = _DEV_POLL_S if dev else self.plugin_settings.poll_s
        async with trio.open_nursery() as nursery:
            if dev:
                nursery.start_soon(self._watch_files)
            while True:
                # Dev mode wakes on file events (debounced by the watcher); both modes also
                # ask git for HEAD and the pins, which live under .git (ignored by watchers).
                with trio.move_on_after(poll):
                    await self._changed.wait()
                files_changed = self._changed.is_set() or self._unresolved
                self._unresolved = False
                self._changed = trio.Event()
                try:
                    fingerprint = await self._fingerprint_now()
                except PluginError as exc:
                    log.warning("workspace not readable", extra={"why": str(exc)})
                    continue
                if files_changed or fingerprint != self._fingerprint:
                    self._fingerprint = fingerprint
                    await self.rescan()

    async def _watch_files(self) -> None:
        stop = trio.Event()
        try:
            async for _paths in watch_changes(self.workspace.path, stop):
                self._changed.set()
        finally:
            stop.set()

    async def _schedule(self) -> None:
        while True:
            await trio.sleep(_SCHEDULE_EVERY_S)
            try:
                await self.services.post_due()
            except AdapterError as exc:
                log.warning("scheduled posts not sent yet", extra={"why": str(exc)})

    async def _publish_status(self) -> None:
        while True:
            try:
                await self.apply_switches(await self._board.plugin_switches())
                await self.publish_status()
            except AdapterError as exc:
                log.warning("plugin status not published", extra={"why": str(exc)})
            with trio.move_on_after(_STATUS_EVERY_S):
                await self._status_due.wait()
            self._status_due = trio.Event()

    async def apply_switches(self, switches: dict[str, PluginSwitch]) -> None:
        """Stop or start the plugins whose operator switch differs from what runs here."""
        self.switches = switches
        for plugin_id, switch in switches.items():
            slot, ref = self.slots.get(plugin_id), self._refs.get(plugin_id)
            if slot is None or ref is None or not ref.alive:
                continue
            stopped = bool(slot.stopped_by)
            if stopped == (not switch.running):
                continue
            log.info(
                "plugin %s by operator",
                "started" if switch.running else "stopped",
                extra={"plugin": plugin_id, "asked_by": switch.asked_by},
            )
            # Marked now so the next beat does not ask twice; the actor confirms the state.
            slot.stopped_by = "" if switch.running else switch.asked_by
            msg: PluginMsg = Resume(switch.asked_by) if switch.running else Pause(switch.asked_by)
            while True:
                try:
                    ref.tell(msg)
                    break
                except MailboxFull:
                    await trio.sleep(_FULL_MAILBOX_RETRY_S)

    def report(self) -> list[dict[str, Any]]:
        """The plugins of this host for the process announcement (`parley ops ps`), as last
        published to plugin_status (never ahead of what `GET /api/plugins` shows)."""
        return list(self._published)

    async def publish_status(self) -> None:
        await self.journal.flush()
        published: list[dict[str, Any]] = []
        for plugin_id, slot in list(self.slots.items()):
            doc: dict[str, Any] = {
                **slot.status(),
                "host": self.host_id,
                "mode": self.workspace.mode.value,
                "listening": self.consumer.assigned,
                "updated_at": time.time(),
                "logs": list(slot.logs)[-100:],
                **self._route_fields(slot),
            }
            await self._status.put(f"{plugin_id}@{self.host_id}", doc)
            published.append({k: doc[k] for k in _ANNOUNCED})
        self._published = published

    def _route_fields(self, slot: PluginSlot) -> dict[str, Any]:
        routes = slot.loaded.routes if slot.loaded is not None else None
        return {
            "routes": [f"{m} {p}" for m, p in routes.declared()] if routes else [],
            "routes_url": self.routes_url,
            "route_secret": self.route_secret,
            "route_timeout_s": slot.loaded.manifest.runtime.hook_timeout_s if slot.loaded else 0,
        }


def _own_url(settings: Settings) -> str:
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}"


class _StoreJournal:
    """Hook calls in flight, one document per (plugin, thread): a thread belongs to one host
    at a time (Kafka partitions), so the marker of a thread is only rewritten by its owner.

    begin() is one store write before the call; end() is batched into the next status
    publication: a host that dies between the two leaves a finished call marked unfinished,
    and its redelivery is skipped, which is harmless (its replies are already posted).
    """

    def __init__(self, docs: DocumentCollection) -> None:
        self._docs = docs
        self._ended: dict[str, str] = {}

    async def begin(self, plugin_id: str, thread_id: str, trigger: str) -> None:
        key = f"{plugin_id}/{thread_id}"
        self._ended.pop(key, None)
        try:
            await self._docs.put(key, {"plugin_id": plugin_id, "trigger": trigger, "done": False})
        except AdapterError as exc:
            # Without the marker a poison trigger may run once more: better than no call.
            log.warning("in-flight journal not written", extra={"why": str(exc)})

    def end(self, plugin_id: str, thread_id: str, trigger: str) -> None:
        self._ended[f"{plugin_id}/{thread_id}"] = trigger

    async def unfinished(self, plugin_id: str) -> set[str]:
        try:
            docs = await self._docs.find({"plugin_id": plugin_id, "done": False})
        except AdapterError as exc:
            log.warning("in-flight journal not read", extra={"why": str(exc)})
            return set()
        return {str(d["trigger"]) for d in docs}

    async def flush(self) -> None:
        ended, self._ended = self._ended, {}
        for key, trigger in ended.items():
            plugin_id = key.split("/", 1)[0]
            await self._docs.put(key, {"plugin_id": plugin_id, "trigger": trigger, "done": True})


def _with_done(call: HookCall, done: Callable[[], None], consumed_at: float) -> HookCall:
    return HookCall(call.hook, call.args, call.trigger, call.thread_id, done, consumed_at)


class _Task:
    """An `async fn(task_status=...)` as a Service: stop() cancels it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._scope: trio.CancelScope | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self._scope:
            task_status.started()
            await self._fn()

    def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
