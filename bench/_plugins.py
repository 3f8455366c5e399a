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
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._e2e import _job, _search
from bench._errors import BenchError
from bench._results import Row
from bench._scenarios import Bench, Metric, _ms
from bench._targets import ParleyTarget

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


def run_plugins(bench: Bench) -> None:
    cfg = bench.cfg
    none = bench.parley
    if none is None or bench.endpoints is None:
        raise BenchError("the plugins scenario needs Parley and its services")
    spin_ms = 20
    with tempfile.TemporaryDirectory(prefix="parley-bench-plugins-") as tmp:
        run = uuid.uuid4().hex[:8]
        loaded = ParleyTarget(
            cfg.users,
            bench.endpoints,
            list(bench.services.values()),
            extra_env={
                "PARLEY_PLUGIN_HOST": "child",
                "PARLEY_PLUGIN_WORKSPACE": str(_workspace(Path(tmp) / "ws", spin_ms)),
                "PARLEY_PLUGIN_MODE": "commit",
                "PARLEY_PLUGIN_GROUP": f"bench-{run}-plugins",
                "PARLEY_PLUGIN_VERSIONS_TOPIC": f"bench.{run}.plugin-versions",
            },
            members=["plugin:spin"],
        )
        try:
            mongo_uri = bench.endpoints[1]
            _wait_listening(loaded, mongo_uri)
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
            _compare_e2e(bench, loaded, none)
            spin = _plugin_status(loaded, mongo_uri).get("spin", {})
            bench.results.notes.append(
                f"plugins: `spin` ({spin_ms} ms busy loop per message, member of every bench "
                f"thread) ran {spin.get('hook_calls')} hook calls, state {spin.get('state')}; "
                "its host held a CPU while the rows with it ran"
            )
        finally:
            loaded.close()


def _compare_e2e(bench: Bench, loaded: ParleyTarget, none: Any) -> None:
    cfg = bench.cfg
    # _compare labels Parley's runs by the name "parley": the loaded server takes it, the
    # plain one is the "peer" the ratios divide by.
    none.name = _NONE
    sub = Bench(cfg, bench.results, loaded, bench.services, bench.endpoints)
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
            note=f"one bounded search each, {cfg.search_duration_s:g} s per step",
        )
    )
    bench.results.notes.append("plugins max-rate search steps: " + " | ".join(traces))
