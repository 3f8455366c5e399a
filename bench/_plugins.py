"""Plugins scenario (issue 15): does a busy-looping plugin slow the chat down, and what does a
plugin's hook cost?

Two Parleys on the same services, measured in alternate rounds with the e2e job:
- `parley, no plugin`: the plain server;
- `parley`: the same with a plugin host child (`PARLEY_PLUGIN_HOST=child`) running `spin`,
  a plugin whose bot is a member of every bench thread and which busy-loops `spin_ms` of CPU
  on each message without ever yielding. It cannot keep up, so its host holds a CPU for the
  whole run: the worst neighbour a chat can have.
The rows put `parley` (with the plugin) against `parley, no plugin`: the ratios are the
issue's goals (p99 and max rate within 10 %).

Hook overhead: before the e2e rounds (while `spin` is idle), `echo` answers `/echo N` in a
thread of its own; the host measures each trigger from the moment it consumed the event to
the end of the hook call, by which time the reply was accepted by Kafka (`ctx.reply` waits for
the broker's ack). p50/p99 of those are read from the host's status in the store.

One target at a time: while `parley, no plugin` (or the no-op ceiling) runs, the loaded
Parley's whole process tree is frozen (SIGSTOP, bench._freeze), else its host would work
through its backlog on one of the two CPUs and the plain Parley would be measured on the
other. Resumed (SIGCONT, child first) before its own runs, it runs a short warm-up until it
delivers again (its Kafka group sessions expired while it was frozen).

The host's CPU priority (PARLEY_PLUGIN_CPU_PRIORITY: low = nice 19 by default, idle =
SCHED_IDLE; `--plugin-cpu-priority`) decides how much of a CPU the chat leaves it; the notes
give what was asked and what the host's threads ran with, read from the kernel.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench._e2e import _job, _search
from bench._errors import BenchError
from bench._freeze import OneAtATime
from bench._procs import run_generator
from bench._results import Row
from bench._scenarios import Bench, Metric, _ms, _with_children
from bench._targets import ParleyTarget, Target

__all__ = ["run_plugins"]

_NONE = "parley, no plugin"
_SPIN = """\
import time

from plugins.api import Context, Message


async def on_message(ctx: Context, message: Message) -> None:
    # Never yields: the host's event loop is held for the whole loop.
    end = time.perf_counter() + ctx.config["spin_ms"] / 1000
    while time.perf_counter() < end:
        pass
"""
_ECHO = """\
from plugins.api import Context, Message


async def on_message(ctx: Context, message: Message) -> None:
    if message.text.startswith("/echo "):
        await ctx.reply("echo " + message.text[6:])
"""


def _manifest(plugin_id: str, extra: str = "") -> str:
    return (
        f'id = "{plugin_id}"\nversion = "1.0.0"\napi_version = 1\n'
        f'[server]\nentry = "server.py"\n{extra}'
    )


def _workspace(root: Path, spin_ms: int) -> Path:
    spin = f'[config.spin_ms]\ntype = "int"\ndefault = {spin_ms}\n'
    for plugin_id, manifest, server in (
        ("spin", _manifest("spin", spin), _SPIN),
        ("echo", _manifest("echo"), _ECHO),
    ):
        (root / plugin_id).mkdir(parents=True)
        (root / plugin_id / "plugin.toml").write_text(manifest)
        (root / plugin_id / "server.py").write_text(server)
    who = ("-c", "user.name=bench", "-c", "user.email=bench@example.org")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), (*who, "commit", "-qm", "bench")):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def _plugin_status(target: ParleyTarget, mongo_uri: str) -> dict[str, dict[str, Any]]:
    from pymongo import MongoClient

    uri = mongo_uri.rsplit("/", 1)[0] + f"/{target.database}"
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
        return {str(d["id"]): d for d in client.get_default_database()["plugin_status"].find()}


def _wait_listening(target: ParleyTarget, mongo_uri: str, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = _plugin_status(target, mongo_uri)
        if all(
            seen.get(p, {}).get("state") == "running" and seen[p].get("listening")
            for p in ("spin", "echo")
        ):
            return
        time.sleep(0.5)
    states = {p: (d.get("state"), d.get("listening"), d.get("last_error")) for p, d in seen.items()}
    raise BenchError(f"plugins not listening in {limit_s:.0f} s: {states}")


def _hook_overhead(target: ParleyTarget, mongo_uri: str, messages: int) -> dict[str, Any]:
    """`messages` triggers to `echo`, 20 a second, each answered; the host's figures."""
    token = target.tokens(1)[0]
    created = target._post_retrying(
        "/api/threads", {"title": "echo", "members": ["plugin:echo"]}, token
    )
    if created.status_code != 201:
        raise BenchError(f"POST /api/threads: HTTP {created.status_code} {created.text[:200]}")
    thread = created.json()["thread_id"]
    for n in range(messages):
        resp = target._post_retrying(
            "/api/messages", {"thread_id": thread, "text": f"/echo {n}"}, token
        )
        if resp.status_code != 202:
            raise BenchError(f"POST /api/messages: HTTP {resp.status_code} {resp.text[:200]}")
        time.sleep(0.05)
    deadline = time.monotonic() + 60
    while True:
        echo = _plugin_status(target, mongo_uri).get("echo", {})
        if int(echo.get("hook_calls", 0)) >= messages:
            return echo
        if time.monotonic() > deadline:
            raise BenchError(f"echo answered {echo.get('hook_calls')} of {messages} in 60 s")
        time.sleep(0.5)


def _host_pid(target: Target) -> int | None:
    """The plugin host child of `target`'s server (`parley serve --role plugins`)."""
    for pid in _with_children(target.server_pid)[1:]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except FileNotFoundError:
            continue
        if b"--role" in argv and b"plugins" in argv:
            return pid
    return None


_POLICIES = {
    os.SCHED_OTHER: "SCHED_OTHER",
    os.SCHED_BATCH: "SCHED_BATCH",
    os.SCHED_IDLE: "SCHED_IDLE",
    os.SCHED_FIFO: "SCHED_FIFO",
    os.SCHED_RR: "SCHED_RR",
}


def host_priority(pid: int) -> str:
    """What the kernel says each thread of process `pid` runs with, e.g. "21 threads
    SCHED_OTHER nice 0, 2 threads SCHED_OTHER nice 19 (its main thread, ...: SCHED_OTHER nice
    19)": nice and policy are per thread on Linux."""
    seen: Counter[str] = Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            policy = os.sched_getscheduler(int(tid))
            nice = os.getpriority(os.PRIO_PROCESS, int(tid))
        except (ProcessLookupError, PermissionError):
            continue
        seen[f"{_POLICIES.get(policy, str(policy))} nice {nice}"] += 1
    policy, nice = os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid)
    main = f"{_POLICIES.get(policy, str(policy))} nice {nice}"
    threads = ", ".join(f"{n} thread{'s' if n > 1 else ''} {k}" for k, n in seen.most_common())
    return f"{threads} (its main thread, which runs the hooks: {main})"


def _requested_priority(cfg_value: str) -> str:
    if cfg_value:
        return f"{cfg_value} (--plugin-cpu-priority)"
    env = os.environ.get("PARLEY_PLUGIN_CPU_PRIORITY")
    return f"{env} (environment)" if env else "low (Parley's default)"


def _settle(bench: Bench, target: Target, limit_s: float = 120.0) -> None:
    """After a resume: short e2e runs at a low rate in a thread of the usual size until one
    delivers every message (not measured)."""
    cfg = bench.cfg
    deadline = time.monotonic() + limit_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = run_generator(
            {
                "kind": "e2e",
                "ws": target.ws,
                "http": target.posting,
                "clients": cfg.e2e_thread_size,
                "thread_ids": target.new_threads(1, cfg.users),
                "rate": 20.0,
                "duration": 1.0,
                "run_id": f"w{uuid.uuid4().hex[:6]}",
                "tokens": target.tokens(cfg.users),
                "connections": 2,
                "drain_s": 5.0,
            },
            prefer=cfg.generator,
        )
        if (
            "error" not in last
            and last["missing"] == 0
            and last["accepted"] == last["sent"]
            and last["unsent"] == 0
        ):
            return
    summary = {k: last.get(k) for k in ("error", "sent", "accepted", "missing", "statuses")}
    raise BenchError(f"{target.name} did not deliver again {limit_s:.0f} s after resume: {summary}")


def run_plugins(bench: Bench) -> None:
    cfg = bench.cfg
    none = bench.parley
    if none is None or bench.endpoints is None:
        raise BenchError("the plugins scenario needs Parley and its services")
    spin_ms = 20
    with tempfile.TemporaryDirectory(prefix="parley-bench-plugins-") as tmp:
        run = uuid.uuid4().hex[:8]
        env = {
            "PARLEY_PLUGIN_HOST": "child",
            "PARLEY_PLUGIN_WORKSPACE": str(_workspace(Path(tmp) / "ws", spin_ms)),
            "PARLEY_PLUGIN_MODE": "commit",
            "PARLEY_PLUGIN_GROUP": f"bench-{run}-plugins",
            "PARLEY_PLUGIN_VERSIONS_TOPIC": f"bench.{run}.plugin-versions",
        }
        if cfg.plugin_cpu_priority:
            env["PARLEY_PLUGIN_CPU_PRIORITY"] = cfg.plugin_cpu_priority
        loaded = ParleyTarget(
            cfg.users,
            bench.endpoints,
            list(bench.services.values()),
            extra_env=env,
            members=["plugin:spin"],
        )
        try:
            mongo_uri = bench.endpoints[1]
            _wait_listening(loaded, mongo_uri)
            host = _host_pid(loaded)
            priority = (
                f"plugin host CPU priority asked: {_requested_priority(cfg.plugin_cpu_priority)}"
                f"; the host's threads ran with: "
                + (host_priority(host) if host is not None else "? (host child not found)")
            )
            bench.results.notes.append(f"plugins: {priority}")
            echo = _hook_overhead(loaded, mongo_uri, 20 if cfg.tiny else 200)
            for name, key in (("p50", "trigger_p50_ms"), ("p99", "trigger_p99_ms")):
                bench.results.add(
                    Row(
                        scenario="plugins",
                        metric=f"hook overhead {name}, trigger consumed -> reply accepted",
                        unit="ms",
                        better="lower",
                        values=[float(echo[key])],
                        note=f"{echo['hook_calls']} `/echo` triggers at 20/s, the plugin host's "
                        "own measure (mailbox wait + hook + Kafka ack of the reply)",
                    )
                )
            with OneAtATime([loaded], lambda t: _settle(bench, t)) as turns:
                _compare_e2e(bench, loaded, none, turns, priority)
            spin = _plugin_status(loaded, mongo_uri).get("spin", {})
            bench.results.notes.append(
                f"plugins: `spin` ({spin_ms} ms busy loop per message, member of every bench "
                f"thread) ran {spin.get('hook_calls')} hook calls, state {spin.get('state')}; "
                "its host held a CPU while the rows with it ran"
            )
            bench.results.notes.append(
                f"plugins: {_frozen_note(turns, host, _host_pid(loaded), _supervision(loaded))}"
            )
        finally:
            loaded.close()


def _supervision(target: ParleyTarget) -> str:
    """What the server's log says its child supervision did (adapters/_child.py)."""
    try:
        text = target._log.read_text(errors="replace")
    except OSError:
        return "server log unreadable"
    kills = text.count('"child unresponsive: killed"')
    restarts = text.count('"child ended; restarting"')
    return f"the server's log: {kills} kill(s) of an unresponsive child, {restarts} restart(s)"


def _frozen_note(
    turns: OneAtATime, host_before: int | None, host_after: int | None, supervision: str
) -> str:
    settle = (
        f"; after each resume (child first) it settled, a warm-up until it delivered again, in "
        f"median {statistics.median(turns.settle_s):.1f} s (max {max(turns.settle_s):.1f} s)"
        if turns.settle_s
        else ""
    )
    if turns.problems or host_before != host_after:
        survived = f"; NOT SURVIVED: host child pid {host_before} -> {host_after}; " + "; ".join(
            turns.problems
        )
    else:
        survived = f"; its plugin host child (pid {host_after}) survived every freeze"
    return (
        f"the loaded Parley (server and plugin host child) was frozen (SIGSTOP) while "
        f"`{_NONE}` and any other target ran, {turns.freezes} time(s), so that the plain "
        f"Parley was measured without the spinning host taking a CPU"
        + settle
        + survived
        + f" ({supervision})"
    )


def _compare_e2e(
    bench: Bench, loaded: ParleyTarget, none: Any, turns: OneAtATime, priority: str
) -> None:
    cfg = bench.cfg
    # _compare labels Parley's runs by the name "parley": the loaded server takes it, the
    # plain one is the "peer" the ratios divide by.
    none.name = _NONE
    sub = Bench(
        cfg, bench.results, loaded, bench.services, bench.endpoints, before_run=turns.before_run
    )
    metrics = [
        Metric(f"e2e p50 at {cfg.e2e_rate:.0f} msg/s", "ms", "lower", _ms("p50")),
        Metric(f"e2e p99 at {cfg.e2e_rate:.0f} msg/s", "ms", "lower", _ms("p99")),
        Metric("e2e delivered", "fraction", "higher", lambda r: r["deliveries"] / r["expected"]),
    ]
    sub._compare("plugins", _job(sub, cfg.e2e_rate, cfg.e2e_duration_s), none, metrics)
    if cfg.search_steps <= 0:
        return
    found: dict[str, float] = {}
    traces = []
    for target in (loaded, none):
        found[target.name], trace = _search(sub, target)
        traces.append(f"{target.name}: " + ", ".join(trace))
    bench.results.add(
        Row(
            scenario="plugins",
            metric=f"e2e max rate with p99 <= {cfg.e2e_p99_goal_ms:.0f} ms",
            unit="msg/s",
            better="higher",
            values=[found[loaded.name]],
            peer=_NONE,
            peer_values=[found[_NONE]],
            note=f"one bounded search each, {cfg.search_duration_s:g} s per step, the loaded "
            f"Parley frozen while the other searched; {priority}",
        )
    )
    bench.results.notes.append("plugins max-rate search steps: " + " | ".join(traces))
