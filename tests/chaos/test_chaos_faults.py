"""Fault tests: each injects one fault into separate gateway and core processes under load.

Every test runs the whole protocol of `scenario.run_scenario` and fails on any lost, phantom
or doubled message, a hole in a thread's sequence, a continuously connected reader that missed
a stored message, or a SIGTERM that did not end in exit code 0. `make test` runs the smoke
size; `make chaos` the long one (see conftest.py for the options).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from infra import LocalServices
from tests.chaos.checks import record
from tests.chaos.cluster import Cluster
from tests.chaos.scenario import Action, Fault, Size, run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.fixture
def cluster(chaos_services: LocalServices, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(chaos_services, chaos_services.endpoints(), tmp_path)
    yield c
    c.kill_all()
    # A test that killed a service and failed before healing must not break the next one.
    for svc in (chaos_services.kafka, chaos_services.ferretdb):
        if svc.pid() is None:
            svc.launch()
            import time

            svc.wait_ready(time.monotonic() + 90)


def _signal(role: str, name: str, sig: signal.Signals) -> Action:
    async def inject(c: Cluster) -> None:
        proc = (c.cores if role == "core" else c.gateways)[name]
        if sig == signal.SIGTERM:
            c.exits.append(await proc.stop(sig))
        elif sig == signal.SIGKILL:
            proc.send(sig)
            await proc.wait_exit(10)
        else:
            proc.send(sig)

    return inject


def _restart(role: str, name: str) -> Action:
    async def heal(c: Cluster) -> None:
        if role == "core":
            _, before = await c.group_members()
            c.restart(c.cores[name])
            await c.wait_group(2, new_since=before)
        else:
            gw = c.gateways[name]
            c.restart(gw)
            await c.wait_gateway_ready(gw)

    return heal


def _service(which: str, up: bool) -> Action:
    async def act(c: Cluster) -> None:
        if up:
            await c.start_service(which)
        else:
            await c.kill_service(which)

    return act


async def _cont(c: Cluster) -> None:
    c.cores["c1"].send(signal.SIGCONT)


async def _check(
    cluster: Cluster, fault: Fault, size: Size, *, g1_close: int | None = None
) -> None:
    cluster.session_timeout_ms = fault.session_timeout_ms
    run = await run_scenario(cluster, fault, size)
    v = run.verdict
    assert v is not None
    bad_exits = [e for e in cluster.exits if e.code != 0]
    v.notes += [f"{e.name} {e.signal} → exit {e.code}" for e in bad_exits]
    record(v)
    extra = []
    if g1_close is not None:
        # The reader on the gateway that was stopped: closed with `g1_close` (1001 on drain).
        codes = [r.close_code for r in run.readers if r.gateway == "g1"]
        if codes != [g1_close] * len(codes):
            extra.append(f"readers on g1 closed with {codes}, expected {g1_close}")
    failures = (
        extra
        + v.failures
        + [
            f"{e.name} after {e.signal}: exit {e.code} (None: running {e.seconds:.0f}s later)"
            for e in bad_exits
        ]
    )
    assert v.accepted > 0, "no message was accepted at all: the load never ran"
    assert not failures, "\n".join(failures) + "\n--- logs\n" + cluster.logs()


async def test_core_sigterm(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "core SIGTERM", _signal("core", "c1", signal.SIGTERM), _restart("core", "c1"), hold_s=2
    )
    await _check(cluster, fault, chaos_size)


async def test_core_sigkill(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "core SIGKILL", _signal("core", "c1", signal.SIGKILL), _restart("core", "c1"), hold_s=2
    )
    await _check(cluster, fault, chaos_size)


async def test_gateway_sigterm(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "gateway SIGTERM",
        _signal("gateway", "g1", signal.SIGTERM),
        _restart("gateway", "g1"),
        hold_s=2,
    )
    await _check(cluster, fault, chaos_size, g1_close=1001)


async def test_gateway_sigkill(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "gateway SIGKILL",
        _signal("gateway", "g1", signal.SIGKILL),
        _restart("gateway", "g1"),
        hold_s=2,
    )
    await _check(cluster, fault, chaos_size)


async def test_kafka_broker_sigkill_and_restart(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "Kafka broker SIGKILL + restart",
        _service("kafka", up=False),
        _service("kafka", up=True),
        hold_s=3,
    )
    await _check(cluster, fault, chaos_size)


async def test_store_killed_and_restarted(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "store SIGKILL + restart",
        _service("ferretdb", up=False),
        _service("ferretdb", up=True),
        hold_s=3,
    )
    await _check(cluster, fault, chaos_size)


async def test_core_zombie_sigstop_past_session_timeout(cluster: Cluster, chaos_size: Size) -> None:
    # Stopped longer than the 6 s session timeout: c2 takes c1's partitions, then c1 wakes up
    # still believing it owns them.
    fault = Fault(
        "core SIGSTOP past session timeout, SIGCONT (zombie)",
        _signal("core", "c1", signal.SIGSTOP),
        _cont,
        hold_s=6.0 + 4.0,
        session_timeout_ms=6000,
    )
    await _check(cluster, fault, chaos_size)


async def test_slow_websocket_readers(cluster: Cluster, chaos_size: Size) -> None:
    # Two slow readers (50 ms per frame) and one that stops reading until the load is over,
    # 8 KB messages and a 16-frame mailbox, so the gateway's slow-consumer rule may close them
    # (4000). Fast readers must not suffer; a reader that was kept must have everything.
    async def nothing(_: Cluster) -> None:
        await trio.lowlevel.checkpoint()

    fault = Fault(
        "slow WebSocket readers",
        nothing,
        hold_s=2,
        slow_readers=2,
        paused_readers=1,
        text_bytes=8000,
        gateway_env={"PARLEY_WS_MAILBOX_FRAMES": "16"},
    )
    await _check(cluster, fault, chaos_size)


async def test_static_member_core_restart_within_session_timeout(
    cluster: Cluster, chaos_size: Size
) -> None:
    # Static membership: c1 leaves with SIGTERM (no LeaveGroup) and is back before the 15 s
    # session timeout, so the broker keeps its partitions for it.
    fault = Fault(
        "static core restarted within session timeout",
        _signal("core", "c1", signal.SIGTERM),
        _restart("core", "c1"),
        hold_s=0.5,
        session_timeout_ms=15000,
        cores_env={
            "c1": {"PARLEY_GROUP_INSTANCE_ID": f"chaos-{cluster.run_id}-c1"},
            "c2": {"PARLEY_GROUP_INSTANCE_ID": f"chaos-{cluster.run_id}-c2"},
        },
    )
    await _check(cluster, fault, chaos_size)
