"""The scenarios: each runs Parley and its peer alternately for several rounds, then the same
generator against the no-op server once (the ceiling), and turns the runs into `Row`s."""

from __future__ import annotations

import contextlib
import os
import statistics
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench._config import BenchConfig
from bench._cpu import STACK, CpuWindow
from bench._errors import BenchError
from bench._procs import quiesce, run_generator
from bench._results import Results, Row
from bench._targets import PeerTarget, Target

__all__ = ["Bench", "Metric"]

JobFactory = Callable[[Target, int], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    better: str
    get: Callable[[dict[str, Any]], float]


def _ms(key: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r["latency"].get(key, float("nan"))) * 1000


@dataclass
class Bench:
    cfg: BenchConfig
    results: Results
    parley: Target | None
    # Shared services of the run by name (kafka, ferretdb, oidc) -> pid: charged to every
    # target in CPU per message, as every target runs on them
    services: dict[str, int] = field(default_factory=dict)
    # (Kafka bootstrap, MongoDB URI, OIDC issuer) of the run: the Go peer runs on them
    endpoints: tuple[str, str, str] | None = None
    # Called with each target before its run is set up (bench._freeze.OneAtATime: only the
    # target being measured may use CPU)
    before_run: Callable[[Target], None] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _peer(
        self, module: str, name: str, env: dict[str, str] | None = None
    ) -> Iterator[PeerTarget | None]:
        if "peer" not in self.cfg.targets:
            yield None
            return
        with PeerTarget(module, name, env=env) as peer:
            yield peer

    def _ceiling(self, job: JobFactory) -> dict[str, Any] | None:
        if "ceiling" not in self.cfg.targets:
            return None
        with PeerTarget("bench.peers.noop", "no-op") as noop:
            return self._run(noop, job, 0)

    def _run(self, target: Target, job: JobFactory, round_no: int) -> dict[str, Any]:
        if self.before_run is not None:
            self.before_run(target)
        spec = job(target, round_no)  # may create threads: let that settle before measuring
        quiesce(target.pids, sample_s=0.2 if self.cfg.tiny else 0.5)
        window = CpuWindow(cpu_groups(target, self.services))

        def on_window(edge: str, generator_pid: int) -> None:
            window.groups.setdefault("generator", [generator_pid])
            window.mark(edge)

        result = run_generator(spec, prefer=self.cfg.generator, on_window=on_window)
        if "error" in result:
            raise BenchError(f"{target.name}: {result['error']} {result.get('errors', '')}")
        self.results.generators[spec["kind"]] = result["generator"]
        result["cpu_ms_per_msg"] = window.per_message(messages_delivered(result))
        return result

    def _alternate(self, targets: list[Target], job: JobFactory) -> dict[str, list[dict[str, Any]]]:
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        for r in range(self.cfg.rounds):
            for t in targets if r % 2 == 0 else reversed(targets):
                runs[t.name].append(self._run(t, job, r))
        return runs

    def _compare(
        self,
        scenario: str,
        job: JobFactory,
        peer: Target | None,
        metrics: list[Metric],
        *,
        ceiling_metric: str | None = None,
        cpu: str | None = None,
        more_peers: Sequence[Target] = (),
    ) -> dict[str, list[dict[str, Any]]]:
        """Parley and every peer alternately, rows per peer (Parley's runs shared by all).
        `cpu`: add CPU-per-message rows, their metric names ending in this label."""
        peers = [p for p in (peer, *more_peers) if p is not None]
        targets = [t for t in (self.parley, *peers) if t is not None]
        if not targets and "ceiling" not in self.cfg.targets:
            raise BenchError("nothing to measure: Parley did not start and no peer selected")
        runs = self._alternate(targets, job) if targets else {}
        ceiling = self._ceiling(job)
        mine = runs.get("parley", [])
        for other in peers or [None]:
            theirs = runs.get(other.name, []) if other is not None else []
            rows = metrics + (cpu_metrics(mine + theirs, cpu) if cpu is not None else [])
            for m in rows:
                row = Row(
                    scenario=scenario,
                    metric=m.name,
                    unit=m.unit,
                    better=m.better,
                    values=[m.get(r) for r in mine],
                    peer=other.name if other is not None else None,
                    peer_values=[m.get(r) for r in theirs],
                    ceiling=m.get(ceiling)
                    if ceiling is not None and m.name == ceiling_metric
                    else None,
                )
                row.note = _limits(mine or theirs, row, m)
                self.results.add(row)
        if ceiling is not None:
            runs["no-op (generator floor)"] = [ceiling]
        return runs

    @contextlib.contextmanager
    def go_peer(self) -> Iterator[Target | None]:
        """The same-guarantee Go peer on this run's services, or None (and a note) when the
        run has no services or the peer cannot be built or started."""
        if "peer" not in self.cfg.targets or self.endpoints is None:
            yield None
            return
        from bench._gopeer import GoPeerTarget

        try:
            peer = GoPeerTarget(self.endpoints, self.cfg.users)
        except BenchError as exc:
            self.results.errors["go peer"] = str(exc)
            yield None
            return
        with peer:
            yield peer

    # -- scenarios --------------------------------------------------------------------------
    def fanout(self) -> None:
        cfg = self.cfg

        def job(t: Target, r: int) -> dict[str, Any]:
            return {
                "kind": "fanout",
                "ws": t.ws,
                "clients": cfg.fanout_clients,
                "messages": cfg.fanout_messages,
                "window": cfg.fanout_window,
                "thread_id": t.new_threads(1, cfg.users)[0],
                "run_id": f"f{r}{uuid.uuid4().hex[:6]}",
                "tokens": t.tokens(cfg.users),
            }

        metrics = [
            Metric("deliveries/s", "msg/s", "higher", lambda r: float(r["deliveries_per_s"])),
            # With a slow ingest path deliveries/s is ~ clients x this: it tells the two apart.
            Metric("messages/s sent and acked", "msg/s", "higher", lambda r: r["messages_per_s"]),
            Metric("delivery latency p50", "ms", "lower", _ms("p50")),
            Metric("delivery latency p99", "ms", "lower", _ms("p99")),
            Metric("delivered", "fraction", "higher", lambda r: r["deliveries"] / r["expected"]),
        ]
        with self._peer("bench.peers.ws_broadcast", "websockets") as peer:
            runs = self._compare("fanout", job, peer, metrics, ceiling_metric="deliveries/s")
        self._keep_distribution(
            f"fan-out: {cfg.fanout_clients} clients x {cfg.fanout_messages} messages", runs
        )

    def ingest(self) -> None:
        cfg = self.cfg

        def rest(t: Target, r: int) -> dict[str, Any]:
            return {
                "kind": "ingest_rest",
                "http": t.posting,
                "connections": cfg.ingest_connections,
                "duration": cfg.duration_s,
                "warmup": min(0.5, cfg.duration_s),
                "tokens": t.tokens(cfg.users),
                "thread_ids": t.new_threads(1, cfg.users),
            }

        def ws(t: Target, r: int) -> dict[str, Any]:
            return {
                "kind": "ingest_ws",
                "ws": t.ws,
                "connections": cfg.ingest_connections,
                "window": cfg.ingest_ws_window,
                "duration": cfg.duration_s,
                "warmup": min(0.5, cfg.duration_s),
                "tokens": t.tokens(cfg.users),
                "thread_ids": t.new_threads(1, cfg.users),
            }

        rest_metrics = [
            Metric("REST POSTs accepted/s", "req/s", "higher", lambda r: r["accepted_per_s"]),
            Metric("REST latency p99", "ms", "lower", _ms("p99")),
        ]
        with self._peer("bench.peers.starlette_app", "uvicorn+starlette") as peer:
            self._compare("ingest", rest, peer, rest_metrics, ceiling_metric=rest_metrics[0].name)
        kafka = getattr(self.parley, "kafka_bootstrap", "")
        if kafka:
            # The same endpoint paying the same broker round trip (acks=all) as Parley.
            acked = [
                Metric(
                    "REST POSTs accepted/s, peer Kafka-acked",
                    "req/s",
                    "higher",
                    lambda r: r["accepted_per_s"],
                ),
                Metric("REST latency p99, peer Kafka-acked", "ms", "lower", _ms("p99")),
            ]
            env = {"BENCH_KAFKA_BOOTSTRAP": kafka}
            with (
                self._peer("bench.peers.starlette_kafka", "uvicorn+starlette+kafka", env) as peer,
                self.go_peer() as go,
            ):
                more = [go] if go is not None else []
                self._compare("ingest", rest, peer, acked, cpu=", REST", more_peers=more)
        ws_metrics = [Metric("WS sends acked/s", "msg/s", "higher", lambda r: r["acked_per_s"])]
        with self._peer("bench.peers.ws_broadcast", "websockets") as peer:
            self._compare(
                "ingest", ws, peer, ws_metrics, ceiling_metric=ws_metrics[0].name, cpu=", WS"
            )

    def _keep_distribution(self, title: str, runs: dict[str, list[dict[str, Any]]]) -> None:
        series = []
        for name, rs in runs.items():
            with_q = [r for r in rs if r.get("latency", {}).get("quantiles")]
            if with_q:
                # The round with the median p99 represents the target.
                with_q.sort(key=lambda r: r["latency"]["p99"])
                series.append((name, with_q[len(with_q) // 2]["latency"]["quantiles"]))
        if series:
            self.results.distributions[title] = series


# The local store is FerretDB and the PostgreSQL under it: one row.
_SERVICE_LABELS = {"ferretdb": "store", "postgres": "store"}


def _with_children(pid: int) -> list[int]:
    """`pid` and its child processes: PostgreSQL does its work in one backend process per
    connection (FerretDB's pool keeps them for the run), none of it in the postmaster."""
    found = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:  # gone, or ProcessLookupError while it is being reaped
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` first, then its descendants (a server's plugin host child, say), parents before
    their children."""
    pids, todo = [], [pid]
    while todo:
        found = todo.pop(0)
        pids.append(found)
        todo.extend(_with_children(found)[1:])
    return pids


_CPU_ORDER = ("app", "kafka", "store", "oidc", "generator", STACK)


def cpu_groups(target: Target, services: dict[str, int]) -> dict[str, list[int]]:
    """Labelled process groups charged to `target`: its own processes as `app`, then every
    service by role (FerretDB as `store`); the generator joins when its window opens."""
    groups = {"app": list(target.app_pids or [target.server_pid])}
    for name, pid in {**services, **target.own_services}.items():
        pids = _with_children(pid) if name == "postgres" else [pid]
        groups.setdefault(_SERVICE_LABELS.get(name, name), []).extend(pids)
    return groups


def messages_delivered(result: dict[str, Any]) -> int:
    """What a job delivered: e2e messages that reached their receivers; ingest messages the
    server accepted (202) or acknowledged (WS ack) inside the window."""
    for key in ("messages_delivered", "accepted", "acked"):
        if key in result:
            return int(result[key])
    return 0


def cpu_metrics(runs: list[dict[str, Any]], label: str) -> list[Metric]:
    """One row per process group the runs measured (app, services, generator, stack)."""
    seen = {g for r in runs for g in r.get("cpu_ms_per_msg", {})}
    groups = [g for g in _CPU_ORDER if g in seen] + sorted(seen - set(_CPU_ORDER))

    def getter(group: str) -> Callable[[dict[str, Any]], float]:
        return lambda r: float(r.get("cpu_ms_per_msg", {}).get(group, float("nan")))

    name = {STACK: "all processes summed"}
    return [
        Metric(f"CPU per message, {name.get(g, g)}{label}", "ms", "lower", getter(g))
        for g in groups
    ]


def _limits(runs: list[dict[str, Any]], row: Row, metric: Metric) -> str:
    """Say when a figure is bounded by the generator rather than by the server."""
    notes = []
    cpu = [float(r["gen_cpu"]) for r in runs if "gen_cpu" in r]
    if cpu and statistics.median(cpu) >= 0.9:
        notes.append(f"generator at {statistics.median(cpu):.0%} CPU")
    values = row.values or row.peer_values
    if row.ceiling and values and metric.better == "higher":
        median = statistics.median(values)
        if median > row.ceiling:
            # The no-op server writes one frame per delivery; a server that batches events
            # into fewer frames (Parley under load) can outrun it, so it bounds nothing here.
            notes.append("above the no-op server: not generator-bound")
        elif median >= 0.8 * row.ceiling:
            notes.append("near the generator ceiling")
    missing = [r for r in runs if r.get("deliveries", 0) < r.get("expected", 0)]
    if missing and metric.name.startswith("deliver"):
        notes.append(f"{len(missing)} round(s) lost deliveries")
    refused: dict[str, int] = {}
    for r in runs:
        for status, n in r.get("statuses", {}).items():
            if not status.startswith("2"):
                refused[status] = refused.get(status, 0) + n
    if refused and metric.better == "higher":
        notes.append("refused: " + ", ".join(f"HTTP {k} x{v}" for k, v in refused.items()))
    errs: dict[str, int] = {}
    for r in runs:
        for e, n in r.get("errors", {}).items():
            errs[e] = errs.get(e, 0) + n
    if errs and metric.better == "higher":
        notes.append("errors: " + ", ".join(f"{k} x{v}" for k, v in list(errs.items())[:3]))
    reconnects = sum(int(r.get("reconnects", 0)) for r in runs)
    if reconnects and metric.better == "higher":
        retried = sum(int(r.get("retried", 0)) for r in runs)
        notes.append(f"POST connections closed by the server and reopened x{reconnects}")
        if retried:
            notes.append(f"posts sent again after an unanswered close x{retried}")
    closes: dict[str, int] = {}
    for r in runs:
        for code, n in r.get("server_closes", {}).items():
            closes[code] = closes.get(code, 0) + n
    if closes and metric.name.startswith("deliver"):
        notes.append("server " + ", ".join(f"{k} x{v}" for k, v in closes.items()))
    return "; ".join(notes)
