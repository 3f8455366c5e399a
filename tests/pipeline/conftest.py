from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from infra import Endpoints, fetch_access_token
from tests.support.server import ParleyProcess, isolated_settings


@pytest.fixture(scope="session")
def tokens(services: Endpoints) -> dict[str, str]:
    return {u: fetch_access_token(services.oidc_issuer, u) for u in ("alice", "bob", "carol")}


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[ParleyProcess]:
    proc = ParleyProcess(isolated_settings(settings), "all", log_dir=tmp_path).start()
    try:
        yield proc
    finally:
        proc.stop()
