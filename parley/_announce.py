"""The announcer: each process tells the deployment who it is, and takes operators' commands.

Every `heartbeat_s` it replaces its `ProcessAnnouncement` in the store (role, version, start
time, partitions, connections, thread actors, readiness, the supervision tree) and reads the
commands addressed to it. Through the store rather than Kafka: the store already holds
what a gateway answers the operator with, a document per process is read by `_id`, and a
core-only process, which serves no operations API itself, is seen through its document.

Commands run in tasks of the announcer's own nursery, so a slow restart never delays the
heartbeat (a process that stops announcing looks gone). Each is logged with who asked.

    drain     the SIGTERM path, asked for remotely: `ActorSystem.shutdown()`; the outcome is
              written first (the drain stops this announcer), the last heartbeat says stopped
    restart   `ActorSystem.restart(path)`, then an announcement at once so the tree shows it
"""

from __future__ import annotations

import logging
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import trio

from actors import ActorError, NoSuchActor, NotRestartable
from adapters import AdapterError
from protocol.ops import CommandKind, Liveness, OpsCommand, ProcessAnnouncement

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from actors import ActorSystem
    from adapters import ProcessBoard
    from config.settings import Settings
    from telemetry import ProcessStatus

__all__ = ["Announcer", "histogram_quantile", "parley_version", "tree_of"]

log = logging.getLogger("parley.ops")

# The last heartbeat ("stopped") may wait this long for the store while the process drains.
_GOODBYE_S = 3.0
# Gauges the announcement carries as they are (unlabelled, so one sample each).
_GAUGES_SHOWN = frozenset({"parley_ws_connections", "parley_thread_actors"})
# Thread actors listed per registry in the announced tree (the counts are always complete).
_TREE_LIMIT = 50


def parley_version() -> str:
    try:
        return metadata.version("parley")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def tree_of(system: ActorSystem, *, limit: int = _TREE_LIMIT) -> list[dict[str, Any]]:
    """The supervision tree as announced: the snapshot, with the last failure's wall time."""
    now = time.time()
    nodes = system.snapshot(limit_per_registry=limit)
    for node in nodes:
        ago = node.get("last_failure_ago")
        node["last_failure_at"] = None if ago is None else round(now - float(ago), 3)
    return nodes


class Announcer:
    """A service (run/stop): heartbeat and command loop of one process."""

    def __init__(
        self,
        system: ActorSystem,
        settings: Settings,
        status: ProcessStatus,
        board: ProcessBoard,
    ) -> None:
        self._system = system
        self._settings = settings
        self._status = status
        self._board = board
        self._started_at = time.time()
        self._version = parley_version()
        self._stopped = trio.Event()
        self._in_flight: set[str] = set()
        self._stats = _Stats()
        self._loop: trio.CancelScope | None = None

    def announcement(self, state: Liveness | None = None) -> ProcessAnnouncement:
        status = self._status
        # Not the scrape-only gauges: a heartbeat every 2 s that walks every actor stalls
        # the event loop for every message in flight (measured: ~8 ms of 16 with 1,000
        # connections open, enough to set the e2e p99).
        status.refresh_gauges(scrape=False)
        stats, now = self._stats.take(status.metrics.registry)
        if state is None:
            draining = status.readiness.draining.is_set() or self._system.draining
            state = Liveness.DRAINING if draining else Liveness.RUNNING
        return ProcessAnnouncement(
            process_id=status.process_id,
            role=status.role,
            version=self._version,
            started_at=self._started_at,
            heartbeat_at=time.time(),
            state=state,
            http_url=self._settings.http_base_url,
            partitions=status.partitions(),
            connections=int(now.get("parley_ws_connections", 0)),
            threads=int(now.get("parley_thread_actors", 0)),
            plugins=status.plugins(),
            readiness=status.readiness.report(),
            actors=tree_of(self._system),
            stats=stats,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with trio.open_nursery() as nursery:
            # stop() cancels this scope: a beat waiting for a store that is down must not hold
            # up the drain (the store waits for its schema before any call).
            with trio.CancelScope() as self._loop:
                while not self._stopped.is_set():
                    with trio.move_on_after(self._settings.heartbeat_timeout_s):
                        await self._beat(nursery)
                    await trio.sleep(self._settings.heartbeat_s)
            self._loop = None
            nursery.cancel_scope.cancel()
        with trio.move_on_after(_GOODBYE_S, shield=True):
            await self._announce(Liveness.STOPPED)

    def stop(self) -> None:
        self._stopped.set()
        if self._loop is not None:
            self._loop.cancel()

    async def _beat(self, nursery: trio.Nursery) -> None:
        await self._announce()
        try:
            pending = await self._board.pending(self._status.process_id)
        except AdapterError as exc:
            log.warning("operator commands not read", extra={"why": str(exc)})
            return
        for command in pending:
            if command.command_id not in self._in_flight:
                self._in_flight.add(command.command_id)
                nursery.start_soon(self._execute, command)

    async def _announce(self, state: Liveness | None = None) -> None:
        try:
            await self._board.announce(self.announcement(state))
        except AdapterError as exc:
            # The store is down: readiness says so; the process may look gone meanwhile.
            log.warning("heartbeat not written", extra={"why": str(exc)})

    async def _execute(self, command: OpsCommand) -> None:
        log.info(
            "operator command",
            extra={
                "command": command.kind.value,
                "path": command.path or None,
                "asked_by": command.asked_by,
                "command_id": command.command_id,
            },
        )
        try:
            if command.kind is CommandKind.DRAIN:
                await self._finish(command.finished(True, "draining", time.time()))
                self._system.shutdown()
                return
            node = await self._system.restart(command.path)
            outcome = f"restarted {node.path} (restarts: {node.restarts})"
            await self._finish(command.finished(True, outcome, time.time()))
            await self._announce()
        except NoSuchActor as exc:
            await self._finish(command.finished(False, str(exc), time.time(), "not_found"))
        except NotRestartable as exc:
            await self._finish(command.finished(False, str(exc), time.time(), "not_restartable"))
        except ActorError as exc:
            # A subtree that would not stop in time: its group failed and is handled by its
            # own supervisor; the operator learns it here.
            await self._finish(command.finished(False, str(exc), time.time(), "failed"))
        finally:
            self._in_flight.discard(command.command_id)

    async def _finish(self, command: OpsCommand) -> None:
        log.info(
            "operator command %s",
            command.state.value,
            extra={
                "command": command.kind.value,
                "asked_by": command.asked_by,
                "outcome": command.outcome,
                "command_id": command.command_id,
            },
        )
        try:
            await self._board.finish(command)
        except AdapterError as exc:
            log.warning("operator command outcome not written", extra={"why": str(exc)})


class _Stats:
    """The announcement's chart figures; end-to-end quantiles over the interval since the
    previous announcement (from the histogram's bucket counts, as Prometheus would)."""

    def __init__(self) -> None:
        self._previous: dict[float, float] = {}

    def take(self, registry: CollectorRegistry) -> tuple[dict[str, float], dict[str, float]]:
        """(the chart figures, the gauges the announcement shows as they are now), from one
        collection of the registry."""
        totals = {"ingested": 0.0, "persisted": 0.0, "lag": 0.0, "restarts": 0.0, "rebalances": 0.0}
        gauges: dict[str, float] = {}
        buckets: dict[float, float] = {}
        for family in registry.collect():
            for sample in family.samples:
                name = sample.name
                if name in _GAUGES_SHOWN:
                    gauges[name] = sample.value
                elif name == "parley_messages_ingested_total":
                    totals["ingested"] += sample.value
                elif name == "parley_messages_persisted_total":
                    totals["persisted"] += sample.value
                elif name == "parley_consumer_partition_lag":
                    totals["lag"] += sample.value
                elif name == "parley_actor_restarts":
                    totals["restarts"] += sample.value
                elif name == "parley_consumer_rebalances":
                    totals["rebalances"] += sample.value
                elif name == "parley_end_to_end_seconds_bucket":
                    buckets[float(sample.labels["le"])] = sample.value
        recent = {le: count - self._previous.get(le, 0.0) for le, count in buckets.items()}
        self._previous = buckets
        for name, q in (("e2e_p50_s", 0.5), ("e2e_p99_s", 0.99)):
            value = histogram_quantile(q, recent)
            if value is not None:
                totals[name] = round(value, 6)
        return totals, gauges


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile from cumulative bucket counts {upper bound: count}, interpolated
    linearly inside the bucket as Prometheus' histogram_quantile does; None without data."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            width = count - lower_count
            share = (rank - lower_count) / width if width > 0 else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
