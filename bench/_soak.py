"""Soak scenario (issue 19): many connected clients and a steady message rate for a long run;
the server's resident memory, open descriptors, Trio tasks and the delivery p99 at the end
must stay within 5% of their values after the first minute.

`python -m bench --soak` (default 10,000 clients, 100 msg/s, 10 minutes; `--soak-clients`,
`--soak-rate`, `--soak-minutes` for a smaller run). The Python generator's `soak` job holds
the clients and posts; it prints a line per window (`--soak-interval`, 10 s), and each line
is the moment the harness samples the server: VmRSS and /proc/PID/fd of its processes, and
`parley_trio_tasks` from its /metrics. Nothing here is a peer comparison: the table's "peer"
column holds the first-minute value, so its ratio is end / first minute.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench._errors import BenchError
from bench._procs import quiesce, rss_bytes
from bench._results import Row
from bench._scenarios import Bench, process_tree
from bench._targets import Target
from bench.loadgen._stats import histogram_percentile

__all__ = ["TOLERANCE", "Sample", "Verdict", "compare", "run_soak"]

# The end may differ from the first minute by this fraction at most, either way.
TOLERANCE = 0.05
FIRST_S = 60.0


@dataclass
class Sample:
    """The server at `t` seconds after the first POST was due, and the latencies (1%-wide
    log buckets, bench.loadgen._stats) of the deliveries received in the window ending then."""

    t: float
    rss_bytes: int
    fds: int
    tasks: float
    hist: dict[int, int] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    name: str
    unit: str
    first: float
    end: float

    @property
    def ratio(self) -> float:
        return self.end / self.first if self.first else math.nan

    @property
    def ok(self) -> bool:
        return abs(self.ratio - 1.0) <= TOLERANCE  # NaN (no figure) is never ok

    def line(self) -> str:
        verdict = "pass" if self.ok else "FAIL"
        return (
            f"{self.name}: first minute {self.first:,.2f} {self.unit}, end {self.end:,.2f} "
            f"{self.unit}, end / first {self.ratio:.3f}: {verdict} (limit +-{TOLERANCE:.0%})"
        )


def _merged(samples: Sequence[Sample]) -> dict[int, int]:
    total: Counter[int] = Counter()
    for s in samples:
        total.update(s.hist)
    return dict(total)


def _ordered(samples: Sequence[Sample], first_s: float) -> tuple[list[Sample], float]:
    """The samples after the start in time order, and the span that counts as the first
    minute (`first_s`, or half the run when it is shorter than twice that)."""
    ordered = sorted((s for s in samples if s.t > 0), key=lambda s: s.t)
    if len(ordered) < 2:
        raise BenchError(f"soak: {len(ordered)} sample(s) after the start: nothing to compare")
    return ordered, min(first_s, ordered[-1].t / 2)


def _spans(
    samples: Sequence[Sample], first_s: float
) -> tuple[Sample, Sample, list[Sample], list[Sample]]:
    """The first-minute sample, the last one, and the windows of the first and last minute."""
    ordered, span = _ordered(samples, first_s)
    first = next(s for s in ordered if s.t >= span)
    last = ordered[-1]
    head = [s for s in ordered if s.t <= first.t]
    tail = [s for s in ordered if s.t > last.t - span] or [last]
    return first, last, head, tail


def _quantiles(histogram: dict[int, int], points: int = 400) -> list[float]:
    """`points`+1 evenly spaced quantiles of a histogram, for the CDF chart."""
    if not histogram:
        return []
    return [histogram_percentile(histogram, max(1e-9, 100 * i / points)) for i in range(points + 1)]


def compare(samples: Sequence[Sample], first_s: float = FIRST_S) -> list[Verdict]:
    """First-minute value against the end value of every figure.

    Gauges (RSS, fds, tasks): the first sample at or after `first_s` against the last one.
    p99: over the windows of the first `first_s` against the windows of the last `first_s`
    (a 10 s window holds too few deliveries at a low rate for a steady p99). A run shorter
    than two minutes uses its first and last halves instead.
    """
    first, last, head, tail = _spans(samples, first_s)
    return [
        Verdict("resident memory (VmRSS)", "MB", first.rss_bytes / 1e6, last.rss_bytes / 1e6),
        Verdict("open file descriptors", "fds", float(first.fds), float(last.fds)),
        Verdict("Trio tasks", "tasks", first.tasks, last.tasks),
        Verdict(
            "delivery latency p99",
            "ms",
            histogram_percentile(_merged(head), 99) * 1000,
            histogram_percentile(_merged(tail), 99) * 1000,
        ),
    ]


def _series(samples: Sequence[Sample], name: str) -> list[list[float]]:
    out: list[list[float]] = []
    for s in samples:
        value = {
            "resident memory (VmRSS)": s.rss_bytes / 1e6,
            "open file descriptors": float(s.fds),
            "Trio tasks": s.tasks,
            # per window, for the curve; the verdict takes it over a minute
            "delivery latency p99": histogram_percentile(s.hist, 99) * 1000,
        }.get(name)
        out.append([round(s.t, 2), value if value is not None else s.extra.get(name, math.nan)])
    return out


# -- the server's side ------------------------------------------------------------------------


def _server_pids(target: Target) -> list[int]:
    """The server's processes: its own and their descendants (a plugin host child, say)."""
    return [p for pid in target.app_pids or [target.server_pid] for p in process_tree(pid)]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _tasks(client: httpx.Client) -> float:
    """`parley_trio_tasks` from /metrics (NaN when the process does not export it)."""
    text = client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith("parley_trio_tasks "):
            return float(line.split()[1])
    return math.nan


def _ms(seconds: float | None) -> float:
    """A generator's figure in ms; a window without one (JSON null, NaN) is NaN."""
    return math.nan if seconds is None else float(seconds) * 1000


class _Sampler:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{target.http['port']}", timeout=10)
        self.samples: list[Sample] = []
        self.pids: list[int] = []

    def take(self, t: float, tick: dict[str, Any] | None) -> None:
        self.pids = _server_pids(self.target)
        rss = sum(rss_bytes(p) for p in self.pids)
        fds = sum(_fds(p) for p in self.pids)
        tasks = _tasks(self.client)
        hist = {int(b): int(c) for b, c in (tick or {}).get("hist", {}).items()}
        extra = {"load average (1 min)": os.getloadavg()[0]}
        for key in ("deliveries", "accepted", "refused", "backlog", "open"):
            if tick is not None and key in tick:
                extra[key] = float(tick[key])
        if tick is not None:
            extra["POST p99"] = _ms(tick.get("post_p99"))
        self.samples.append(Sample(t, rss, fds, tasks, hist, extra))

    def close(self) -> None:
        self.client.close()


def _job(bench: Bench, target: Target) -> dict[str, Any]:
    cfg = bench.cfg
    duration = cfg.soak_minutes * 60
    return {
        "kind": "soak",
        "ws": target.ws,
        "http": target.posting,
        "clients": cfg.soak_clients,
        "thread_ids": target.new_threads(
            max(1, cfg.soak_clients // cfg.e2e_thread_size), cfg.users
        ),
        "rate": cfg.soak_rate,
        "duration": duration,
        "interval_s": cfg.soak_interval_s,
        "run_id": f"s{uuid.uuid4().hex[:6]}",
        "tokens": target.tokens(cfg.users),
        # Enough connections that 202s as slow as half a second do not hold the schedule up
        # (a POST the generator could not send yet is charged to the latency all the same).
        "connections": min(256, max(16, int(cfg.soak_rate / 2))),
        "setup_limit_s": 600,
        "timeout": duration + 900,
    }


def _drive(job: dict[str, Any], sampler: _Sampler) -> dict[str, Any]:
    """Run the generator; sample the server at its ready line and at each window line."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", orjson.dumps(job).decode()],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.PIPE,
        )
        timer = threading.Timer(float(job["timeout"]) + 60, proc.kill)
        timer.start()
        last: dict[str, Any] = {}
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line: dict[str, Any] = orjson.loads(raw)
                if "ready" in line:
                    print(
                        f"bench: soak: {line['subscribed']} clients subscribed in "
                        f"{line['setup_s']:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                    sampler.take(0.0, None)
                elif "tick" in line:
                    sampler.take(float(line["t"]), line)
                    s = sampler.samples[-1]
                    print(
                        f"bench: soak: t={s.t:5.0f} s RSS {s.rss_bytes / 1e6:7.1f} MB, "
                        f"fds {s.fds}, tasks {s.tasks:.0f}, window p99 "
                        f"{_ms(line.get('p99')):.1f} ms (POST "
                        f"{_ms(line.get('post_p99')):.1f} ms), "
                        f"backlog {line['backlog']}, "
                        f"open {line['open']}, load {os.getloadavg()[0]:.2f}",
                        file=sys.stderr,
                        flush=True,
                    )
                    if line.get("last"):  # sampled: the generator may close its clients
                        assert proc.stdin is not None
                        proc.stdin.write(b"done\n")
                        proc.stdin.flush()
                else:
                    last = line
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace").strip().splitlines()[-5:]
    if returncode != 0 or not last:
        raise BenchError(f"soak generator failed (exit {returncode}): " + " | ".join(stderr))
    if "error" in last:
        raise BenchError(f"soak: {last['error']} {last.get('errors', '')}")
    return last


def run_soak(bench: Bench) -> None:
    cfg = bench.cfg
    target = bench.parley
    if target is None:
        raise BenchError("the soak scenario measures Parley, which did not start")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < cfg.soak_clients + 1024:
        raise BenchError(
            f"open-file hard limit {hard} is below {cfg.soak_clients} clients + 1024: "
            "raise it (ulimit -Hn) or use --soak-clients"
        )
    job = _job(bench, target)
    quiesce(target.pids)
    load_start = "/".join(f"{x:.2f}" for x in os.getloadavg())
    sampler = _Sampler(target)
    try:
        result = _drive(job, sampler)
    finally:
        sampler.close()
    load_end = "/".join(f"{x:.2f}" for x in os.getloadavg())
    bench.results.generators["soak"] = "python"
    samples = sampler.samples
    verdicts = compare(samples)
    for v in verdicts:
        bench.results.add(
            Row(
                scenario="soak",
                metric=v.name,
                unit=v.unit,
                better="lower",
                values=[v.end],
                peer="first minute",
                peer_values=[v.first],
                note=f"end / first minute {v.ratio:.3f}: "
                f"{'pass' if v.ok else 'FAIL'} (limit +-{TOLERANCE:.0%})",
                series=_series(samples, v.name),
            )
        )
    delivered = result["deliveries"] / max(1, result["expected"])
    bench.results.add(
        Row(
            scenario="soak",
            metric="delivered",
            unit="fraction",
            better="higher",
            values=[delivered],
            note=f"{result['deliveries']} of {result['expected']}; sent {result['sent']}, "
            f"accepted {result['accepted']}, unsent {result['unsent']}; "
            f"{result['still_open']} of {cfg.soak_clients} connections open at the end; "
            f"{result.get('reconnects', 0)} POST connections ended by the server and opened "
            f"again, {result.get('lost', 0)} lost"
            + (f"; server closes {result['server_closes']}" if result["server_closes"] else "")
            + (f"; errors {result['errors']}" if result["errors"] else ""),
            series=_series(samples, "deliveries"),
        )
    )
    first, last, head, tail = _spans(samples, FIRST_S)
    for name, unit, note in (
        ("POST p99", "ms", "POST sent → 202, per window: a slow accept path, not judged"),
        ("backlog", "POSTs", "POSTs due but not yet sent by the generator, not judged"),
        (
            "load average (1 min)",
            "load",
            "the machine's, not judged: other work on the shared cores moves every figure",
        ),
    ):
        if name in last.extra:
            bench.results.add(
                Row(
                    scenario="soak",
                    metric=name,
                    unit=unit,
                    better="lower",
                    values=[last.extra[name]],
                    peer="first minute",
                    peer_values=[first.extra.get(name, math.nan)],
                    note=note,
                    series=_series(samples, name),
                )
            )
    bench.results.distributions[
        f"soak: {cfg.soak_clients} clients, {cfg.soak_rate:g} msg/s, {cfg.soak_minutes:g} min"
    ] = [
        ("first minute", _quantiles(_merged(head))),
        ("last minute", _quantiles(_merged(tail))),
    ]
    bench.results.notes.append(
        f"soak: {cfg.soak_clients} clients in threads of {cfg.e2e_thread_size}, "
        f"{cfg.soak_rate:g} msg/s for {cfg.soak_minutes:g} min, sampled every "
        f"{cfg.soak_interval_s:g} s ({len(samples)} samples) on server pids "
        f"{sampler.pids}; load average (1/5/15) {load_start} at the start, {load_end} at the "
        "end. " + "; ".join(v.line() for v in verdicts)
    )
