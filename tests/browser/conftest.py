"""Browser-test fixtures: a real `parley serve` subprocess, Debian's chromium, page logs.

Helpers (the server process, login through the provider's page, screenshots) live in
``_browser_support``. A test is skipped only when the server answers but lacks an endpoint the
browser needs; a server that does not start, or a missing chromium, is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from _browser_support import (
    PARLEY,
    PageLog,
    ParleyServer,
    free_port,
    require_endpoints,
    require_websocket,
)

if TYPE_CHECKING:
    from infra import Endpoints


@pytest.fixture(scope="module")
def parley_server(
    services: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ParleyServer]:
    if not PARLEY.exists():
        pytest.fail(f"{PARLEY} missing: run `make install`")
    run_id = uuid.uuid4().hex[:10]
    http_port, ws_port = free_port(), free_port()
    state = tmp_path_factory.mktemp("browser-server")
    mongo_uri = services.mongo_uri.rsplit("/", 1)[0] + f"/parley_browser_{run_id}"
    env = {
        **os.environ,
        "PARLEY_HTTP_HOST": "127.0.0.1",
        "PARLEY_HTTP_PORT": str(http_port),
        "PARLEY_WS_PORT": str(ws_port),
        "PARLEY_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "PARLEY_MONGO_URI": mongo_uri,
        "PARLEY_OIDC_ISSUER": services.oidc_issuer,
        "PARLEY_STATE_DIR": str(state),
        "PARLEY_COMMANDS_TOPIC": f"browser-{run_id}.commands",
        "PARLEY_EVENTS_TOPIC": f"browser-{run_id}.events",
        "PARLEY_DLQ_TOPIC": f"browser-{run_id}.dlq",
        "PARLEY_DOMAIN_CHANGES_TOPIC": f"browser-{run_id}.domain-changes",
        "PARLEY_CORE_GROUP": f"browser-{run_id}-core",
        "PARLEY_TOPIC_PARTITIONS": "2",
        "PARLEY_SHUTDOWN_GRACE_S": "5",
    }
    server = ParleyServer(env=env, http_port=http_port, log_path=state / "server.log")
    server.start()
    try:
        require_endpoints(server, services.oidc_issuer)
        yield server
    finally:
        server.stop()


@pytest.fixture
def page_logs() -> Iterator[list[PageLog]]:
    logs: list[PageLog] = []
    yield logs
    for log in logs:
        for line in log.lines:
            print(line)


@pytest.fixture
def chat_server(parley_server: ParleyServer, services: Endpoints) -> ParleyServer:
    """The module's server, once it is known to speak the WebSocket protocol."""
    if parley_server.ws_checked is None:
        try:
            require_websocket(parley_server, services.oidc_issuer)
        except pytest.skip.Exception as exc:
            parley_server.ws_checked = str(exc)
            raise
        parley_server.ws_checked = ""
    if parley_server.ws_checked:
        pytest.skip(parley_server.ws_checked)
    return parley_server
