"""A core drained from the CLI (`parley ops drain ID`) under load: the chaos protocol's
reconciliation (nothing lost, nothing stored twice, no sequence hole, continuous readers
complete), exit 0, and the other core takes the partitions over meanwhile."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from infra import LocalServices, fetch_access_token
from tests.chaos.cluster import Cluster, ProcessExit
from tests.chaos.scenario import Action, Fault, Size
from tests.chaos.test_chaos_faults import _check, _restart
from tests.support.server import REPO

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.fixture
def cluster(chaos_services: LocalServices, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(chaos_services, chaos_services.endpoints(), tmp_path)
    yield c
    c.kill_all()


def _drain_from_cli(name: str) -> Action:
    async def inject(c: Cluster) -> None:
        proc = c.cores[name]
        token = await trio.to_thread.run_sync(fetch_access_token, c.endpoints.oidc_issuer, "admin")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        env.update(PARLEY_OPS_URL=c.gateways["g2"].http_base, PARLEY_TOKEN=token)
        process_id = f"chaos-{c.run_id}-{name}"
        started = time.monotonic()
        done = await trio.run_process(
            [sys.executable, "-m", "parley.cli", "ops", "drain", process_id],
            env=env,
            cwd=REPO,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout.decode() == f"{process_id}: draining\n"
        code = await proc.wait_exit(25.0)
        c.exits.append(ProcessExit(name, "ops drain", code, time.monotonic() - started))

    return inject


async def test_core_drained_from_the_cli(cluster: Cluster, chaos_size: Size) -> None:
    fault = Fault(
        "core drained by `parley ops drain`", _drain_from_cli("c1"), _restart("core", "c1")
    )
    await _check(cluster, fault, chaos_size)
