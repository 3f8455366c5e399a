"""A process that cannot serve must end with a non-zero code, not linger half-alive.

Found by the chaos suite (at a91c27a): a core whose HTTP port was taken crashed its
`/parley/http` service three times, the root supervisor "gave up", the process logged
"draining" — and kept running and consuming; a later SIGTERM hung past 25 s ("the Kafka
producer is not running; retrying"). d227a2b ends a taken port at once with exit 1; the
general give-up path is tests/actors' concern. An orchestrator can only restart a process
that exits.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import LocalServices
from tests.chaos.cluster import Cluster

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.fixture
def cluster(chaos_services: LocalServices, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(chaos_services, chaos_services.endpoints(), tmp_path)
    yield c
    c.kill_all()


async def test_core_whose_http_port_is_taken_exits_nonzero(cluster: Cluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        core = cluster.add_core("c1", PARLEY_HTTP_PORT=str(port))
        code = await core.wait_exit(45.0)
        if code is None:
            stop = await core.stop(signal.SIGTERM, bound_s=25.0)
            pytest.fail(
                f"still running 45 s after it could not bind its port; then SIGTERM → exit "
                f"{stop.code} after {stop.seconds:.1f}s\n{core.log_tail(8)}"
            )
    assert code != 0, f"exit 0 although it could not serve:\n{core.log_tail(8)}"
