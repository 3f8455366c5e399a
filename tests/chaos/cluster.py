"""The system under test for chaos runs: separate `parley serve` gateway and core processes.

A `Cluster` owns its subprocesses (started here, signalled here, reaped here) and points them
at a chaos-only `LocalServices` stack, so killing the broker or the store never touches the
services other test packages share. Every cluster gets its own topics, core group and
database, so one test's leftovers cannot be counted by the next.

Processes are spawned from the main thread (the Trio thread of the test) with
PR_SET_PDEATHSIG: if the test run dies, the kernel takes them along.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo
import trio
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra import Endpoints, LocalServices, find_free_ports

__all__ = ["Cluster", "ParleyProc", "ProcessExit"]

REPO = Path(__file__).resolve().parents[2]
PARLEY = REPO / ".venv" / "bin" / "parley"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class ProcessExit:
    """How a process we signalled ended: for the SIGTERM contract and the report."""

    name: str
    signal: str
    code: int | None  # None: still running when the bound ran out
    seconds: float


class ParleyProc:
    """One `parley serve --role ROLE` subprocess with its own log file."""

    def __init__(self, name: str, role: str, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.role = role
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.http_port = int(env.get("PARLEY_HTTP_PORT", "0"))
        self.ws_port = int(env.get("PARLEY_WS_PORT", "-1"))

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        if self.ws_port > 0:
            return f"ws://127.0.0.1:{self.ws_port}/ws"
        return f"ws://127.0.0.1:{self.http_port}/ws"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.name} ({self.role}) at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(PARLEY), "serve", "--role", self.role],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def wait_exit(self, bound_s: float) -> int | None:
        """Exit code, or None if it is still running after `bound_s` (then it is left alone)."""
        assert self.proc is not None
        with trio.move_on_after(bound_s):
            while self.proc.poll() is None:  # noqa: ASYNC110 (a child process, no event)
                await trio.sleep(0.05)
        return self.proc.poll()

    async def stop(self, sig: signal.Signals, bound_s: float = 25.0) -> ProcessExit:
        """Send `sig` and wait at most `bound_s`; SIGKILL (recorded as code None) after that."""
        t0 = time.monotonic()
        self.send(sig)
        code = await self.wait_exit(bound_s)
        took = time.monotonic() - t0
        if code is None:
            self.send(signal.SIGKILL)
            await self.wait_exit(10.0)
        return ProcessExit(self.name, sig.name, code, took)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text[-lines:])


@dataclass
class Cluster:
    """Gateways and cores of one chaos test over the chaos stack's services."""

    stack: LocalServices
    endpoints: Endpoints
    workdir: Path
    partitions: int = 4
    session_timeout_ms: int = 6000
    extra_env: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    gateways: dict[str, ParleyProc] = field(default_factory=dict)
    cores: dict[str, ParleyProc] = field(default_factory=dict)
    exits: list[ProcessExit] = field(default_factory=list)

    # --- names of this run --------------------------------------------------------------------
    @property
    def database(self) -> str:
        return f"chaos_{self.run_id}"

    @property
    def commands_topic(self) -> str:
        return f"chaos-{self.run_id}.commands"

    @property
    def core_group(self) -> str:
        return f"chaos-{self.run_id}-core"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.endpoints.ports.mongo}/{self.database}"

    def env(self, name: str, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(
            {
                "PARLEY_KAFKA_BOOTSTRAP": self.endpoints.kafka_bootstrap,
                "PARLEY_MONGO_URI": self.mongo_uri,
                "PARLEY_OIDC_ISSUER": self.endpoints.oidc_issuer,
                "PARLEY_STATE_DIR": str(self.workdir / "state"),
                "PARLEY_COMMANDS_TOPIC": self.commands_topic,
                "PARLEY_EVENTS_TOPIC": f"chaos-{self.run_id}.events",
                "PARLEY_DLQ_TOPIC": f"chaos-{self.run_id}.dlq",
                "PARLEY_DOMAIN_CHANGES_TOPIC": f"chaos-{self.run_id}.domain-changes",
                "PARLEY_CORE_GROUP": self.core_group,
                "PARLEY_TOPIC_PARTITIONS": str(self.partitions),
                "PARLEY_KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
                "PARLEY_SHUTDOWN_GRACE_S": "15",
                "PARLEY_USER_RATE_PER_S": "10000",
                "PARLEY_USER_RATE_BURST": "10000",
                "PARLEY_MAX_CONNECTIONS_PER_USER": "100",
                "PARLEY_GATEWAY_ID": f"chaos-{self.run_id}-{name}",
                "PARLEY_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        env.update(more)
        return env

    # --- processes ----------------------------------------------------------------------------
    def add_gateway(self, name: str, **env: str) -> ParleyProc:
        http, ws = find_free_ports(2)
        proc = ParleyProc(
            name,
            "gateway",
            self.env(name, PARLEY_HTTP_PORT=str(http), PARLEY_WS_PORT=str(ws), **env),
            self.workdir / f"{name}.log",
        )
        self.gateways[name] = proc
        proc.start()
        return proc

    def add_all(self, name: str, **env: str) -> ParleyProc:
        """Gateway and core in one process (`--role all`)."""
        http, ws = find_free_ports(2)
        proc = ParleyProc(
            name,
            "all",
            self.env(name, PARLEY_HTTP_PORT=str(http), PARLEY_WS_PORT=str(ws), **env),
            self.workdir / f"{name}.log",
        )
        self.gateways[name] = proc
        self.cores[name] = proc
        proc.start()
        return proc

    def add_core(self, name: str, **env: str) -> ParleyProc:
        # A core serves /metrics and /readyz on its HTTP port too: never the default 8080.
        (http,) = find_free_ports(1)
        env = {"PARLEY_HTTP_PORT": str(http), "PARLEY_WS_PORT": "-1", **env}
        proc = ParleyProc(name, "core", self.env(name, **env), self.workdir / f"{name}.log")
        self.cores[name] = proc
        proc.start()
        return proc

    def restart(self, proc: ParleyProc) -> None:
        """Start the same process again (same ports, same static id): a redeploy."""
        proc.start()

    def procs(self) -> list[ParleyProc]:
        return list({id(p): p for p in [*self.gateways.values(), *self.cores.values()]}.values())

    def live_gateways(self) -> list[ParleyProc]:
        return [g for g in self.gateways.values() if g.running]

    async def wait_gateway_ready(self, gw: ParleyProc, bound_s: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            with trio.move_on_after(bound_s):
                while True:
                    if not gw.running:
                        raise AssertionError(f"{gw.name} exited while starting:\n{gw.log_tail()}")
                    with contextlib.suppress(httpx.HTTPError):  # not listening yet
                        resp = await client.get(f"{gw.http_base}/readyz")
                        if resp.status_code == 200:
                            return
                    await trio.sleep(0.2)
        raise AssertionError(f"{gw.name} not ready after {bound_s:.0f}s:\n{gw.log_tail()}")

    async def wait_group(
        self, members: int, bound_s: float = 60.0, *, new_since: frozenset[str] = frozenset()
    ) -> None:
        """Until the core group is stable with `members` members, one of them not in
        `new_since` when given (a restarted core has joined, not its old ghost)."""
        with trio.move_on_after(bound_s):
            while True:
                for core in self.cores.values():
                    if core.proc is not None and core.proc.poll() is not None:
                        raise AssertionError(f"{core.name} exited:\n{core.log_tail()}")
                state, ids = await self.group_members()
                if state == "STABLE" and len(ids) == members and (not new_since or ids - new_since):
                    return
                await trio.sleep(0.3)
        raise AssertionError(
            f"core group {self.core_group} not stable with {members} members after {bound_s}s"
        )

    async def group_members(self) -> tuple[str, frozenset[str]]:
        return await trio.to_thread.run_sync(self._describe_group)

    def _describe_group(self) -> tuple[str, frozenset[str]]:
        admin = AdminClient({"bootstrap.servers": self.endpoints.kafka_bootstrap})
        try:
            fut = admin.describe_consumer_groups([self.core_group], request_timeout=5)
            desc = fut[self.core_group].result(timeout=6)
        except Exception:  # the broker may be restarting: "not yet"
            return ("UNKNOWN", frozenset())
        state = getattr(desc.state, "name", str(desc.state))
        return (state, frozenset(m.member_id for m in desc.members))

    async def stop_all(self) -> list[ProcessExit]:
        """SIGTERM every running process at once, recording each exit (bounded 25 s each)."""
        out: list[ProcessExit] = []

        async def one(proc: ParleyProc) -> None:
            out.append(await proc.stop(signal.SIGTERM))

        async with trio.open_nursery() as nursery:
            for proc in self.procs():
                if proc.running:
                    nursery.start_soon(one, proc)
        self.exits.extend(out)
        return out

    def kill_all(self) -> None:
        for proc in self.procs():
            proc.send(signal.SIGKILL)
            if proc.proc is not None:
                proc.proc.wait(timeout=10)

    def logs(self, lines: int = 15) -> str:
        parts = []
        for proc in self.procs():
            parts.append(f"=== {proc.name} ({proc.log_path})\n{proc.log_tail(lines)}")
        return "\n".join(parts)

    def grep_logs(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        hits = []
        for proc in self.procs():
            try:
                text = proc.log_path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            hits += [f"{proc.name}: {line}" for line in text.splitlines() if rx.search(line)]
        return hits

    # --- services -----------------------------------------------------------------------------
    async def kill_service(self, which: str) -> None:
        """SIGKILL the broker ("kafka") or the store ("ferretdb") and reap it."""
        svc = self.stack.kafka if which == "kafka" else self.stack.ferretdb
        pid = svc.pid()
        assert pid is not None, f"{which} is not running"
        os.kill(pid, signal.SIGKILL)
        with trio.move_on_after(15):
            while svc.pid() is not None:  # noqa: ASYNC110 (a process, no event)
                await trio.sleep(0.05)
        if svc.proc is not None:
            svc.proc.wait(timeout=5)
            svc.proc = None

    async def start_service(self, which: str, bound_s: float = 90.0) -> None:
        """Launch again (from this thread: the death signal follows the test's thread)."""
        svc = self.stack.kafka if which == "kafka" else self.stack.ferretdb
        svc.launch()
        deadline = time.monotonic() + bound_s
        await trio.to_thread.run_sync(svc.wait_ready, deadline)

    # --- what Kafka and the store hold --------------------------------------------------------
    def _lag(self) -> int:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.endpoints.kafka_bootstrap,
            "group.id": self.core_group,
            "enable.auto.commit": False,
        }
        consumer = Consumer(conf)
        try:
            md = consumer.list_topics(self.commands_topic, timeout=5)
            parts = md.topics[self.commands_topic].partitions
            tps = [TopicPartition(self.commands_topic, p) for p in parts]
            committed = consumer.committed(tps, timeout=5)
            lag = 0
            for tp in committed:
                low, high = consumer.get_watermark_offsets(tp, timeout=5)
                pos = tp.offset if tp.offset >= 0 else low
                lag += max(0, high - pos)
            return lag
        finally:
            consumer.close()

    async def lag(self) -> int | None:
        """Records of the commands topic not yet committed by the core group (None: unknown)."""
        try:
            return await trio.to_thread.run_sync(self._lag)
        except Exception:
            return None

    def _docs(self) -> list[dict[str, Any]]:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.mongo_uri, serverSelectionTimeoutMS=3000
        )
        try:
            return list(client[self.database]["messages"].find({}, {"_id": 0}))
        finally:
            client.close()

    async def stored(self) -> list[dict[str, Any]] | None:
        try:
            return await trio.to_thread.run_sync(self._docs)
        except pymongo.errors.PyMongoError:
            return None

    def _command_ids(self) -> set[str]:
        """client_msg_ids of every record in the commands topic (what the producers flushed)."""
        import json

        consumer = Consumer(
            {
                "bootstrap.servers": self.endpoints.kafka_bootstrap,
                "group.id": f"chaos-audit-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            md = consumer.list_topics(self.commands_topic, timeout=5)
            tps = []
            for p in md.topics[self.commands_topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.commands_topic, p), timeout=5
                )
                if high > low:
                    tps.append((p, low, high))
            consumer.assign([TopicPartition(self.commands_topic, p, low) for p, low, _ in tps])
            remaining = {p: high for p, _, high in tps}
            ids: set[str] = set()
            deadline = time.monotonic() + 30
            while remaining and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                value, offset, part = msg.value(), msg.offset(), msg.partition()
                if value is None or offset is None or part is None:
                    continue
                cmid = json.loads(value).get("client_msg_id")
                if cmid:
                    ids.add(cmid)
                if offset + 1 >= remaining.get(part, 0):
                    remaining.pop(part, None)
            return ids
        finally:
            consumer.close()

    async def command_ids(self) -> set[str]:
        return await trio.to_thread.run_sync(self._command_ids)
