"""Network faults between Parley and the store through toxiproxy.

`parley infra build` (part of `make install`, so of `make test`) builds the pinned toxiproxy
into infra/toxiproxy/bin; PARLEY_TOXIPROXY_BIN names another binary. Only the store link is
proxied: Kafka's clients follow the broker's advertised address, which a proxy in front of it
would have to rewrite.

Faults: 300 ms latency on every store call; TCP resets of store connections; a blackhole (the
proxy disabled: connections refused) — each under load, then the normal checks.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from infra import TOXIPROXY_BIN, LocalServices, build, find_free_ports
from tests.chaos.checks import record
from tests.chaos.cluster import Cluster
from tests.chaos.scenario import Fault, Size, run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def _binary() -> str:
    configured = os.environ.get("PARLEY_TOXIPROXY_BIN")
    if configured:
        assert os.access(configured, os.X_OK), f"PARLEY_TOXIPROXY_BIN={configured} is not runnable"
        return configured
    # A no-op when `make install` already built it; a build error fails the test and says why.
    build()
    return str(TOXIPROXY_BIN)


class Toxiproxy:
    def __init__(self, binary: str, log: Path) -> None:
        self.api_port, self.listen_port = find_free_ports(2)
        self._log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [binary, "-host", "127.0.0.1", "-port", str(self.api_port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.api = f"http://127.0.0.1:{self.api_port}"

    def wait_ready(self) -> None:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):  # not listening yet: poll again
                if httpx.get(f"{self.api}/version", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)  # a fixture, before the test's event loop work begins
        raise AssertionError(f"toxiproxy did not start (exit {self.proc.poll()})")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            resp = await client.request(method, f"{self.api}{path}", json=body)
            assert resp.status_code < 300, f"toxiproxy {method} {path}: {resp.text}"


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[Toxiproxy]:
    proxy = Toxiproxy(_binary(), tmp_path / "toxiproxy.log")
    try:
        proxy.wait_ready()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def proxied_cluster(
    chaos_services: LocalServices, tmp_path: Path, toxiproxy: Toxiproxy
) -> Iterator[Cluster]:
    endpoints = chaos_services.endpoints()
    c = Cluster(chaos_services, endpoints, tmp_path)
    # Parley's processes reach the store through the proxy; the checks read it directly.
    c.extra_env["PARLEY_MONGO_URI"] = f"mongodb://127.0.0.1:{toxiproxy.listen_port}/{c.database}"
    httpx.post(
        f"{toxiproxy.api}/proxies",
        json={
            "name": "store",
            "listen": f"127.0.0.1:{toxiproxy.listen_port}",
            "upstream": f"127.0.0.1:{endpoints.ports.mongo}",
            "enabled": True,
        },
        timeout=5,
    ).raise_for_status()
    yield c
    c.kill_all()


def _toxic(proxy: Toxiproxy, kind: str, attributes: dict[str, int]) -> Fault:
    async def inject(_: Cluster) -> None:
        body = {"name": kind, "type": kind, "stream": "downstream", "attributes": attributes}
        await proxy.call("POST", "/proxies/store/toxics", body)

    async def heal(_: Cluster) -> None:
        await proxy.call("DELETE", f"/proxies/store/toxics/{kind}")

    return Fault(f"toxiproxy store {kind} {attributes}", inject, heal, hold_s=3)


async def _check(cluster: Cluster, fault: Fault, size: Size) -> None:
    run = await run_scenario(cluster, fault, size)
    v = run.verdict
    assert v is not None
    record(v)
    bad = [e for e in cluster.exits if e.code != 0]
    failures = v.failures + [f"{e.name} after {e.signal}: exit {e.code}" for e in bad]
    assert v.accepted > 0, "no message was accepted at all: the load never ran"
    assert not failures, "\n".join(failures) + "\n--- logs\n" + cluster.logs()


async def test_store_latency(
    proxied_cluster: Cluster, toxiproxy: Toxiproxy, chaos_size: Size
) -> None:
    await _check(proxied_cluster, _toxic(toxiproxy, "latency", {"latency": 300}), chaos_size)


async def test_store_connection_resets(
    proxied_cluster: Cluster, toxiproxy: Toxiproxy, chaos_size: Size
) -> None:
    await _check(proxied_cluster, _toxic(toxiproxy, "reset_peer", {"timeout": 200}), chaos_size)


async def test_store_blackhole(
    proxied_cluster: Cluster, toxiproxy: Toxiproxy, chaos_size: Size
) -> None:
    async def cut(_: Cluster) -> None:
        await toxiproxy.call("POST", "/proxies/store", {"enabled": False})

    async def mend(_: Cluster) -> None:
        await toxiproxy.call("POST", "/proxies/store", {"enabled": True})
        await trio.lowlevel.checkpoint()

    await _check(proxied_cluster, Fault("toxiproxy store cut", cut, mend, hold_s=4), chaos_size)
