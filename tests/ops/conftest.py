from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from infra import Endpoints, fetch_access_token
from tests.support.server import ParleyProcess, isolated_settings


@pytest.fixture(scope="session")
def tokens(services: Endpoints) -> dict[str, str]:
    users = ("admin", "alice")
    return {u: fetch_access_token(services.oidc_issuer, u) for u in users}


def ops_settings(settings: Settings) -> Settings:
    # Heartbeats fast enough that a test sees a process come, go and take commands quickly.
    return isolated_settings(settings, heartbeat_s=0.5, heartbeat_timeout_s=4.0)


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[ParleyProcess]:
    proc = ParleyProcess(ops_settings(settings), "all", log_dir=tmp_path).start()
    try:
        yield proc
    finally:
        proc.stop()
