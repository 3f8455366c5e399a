"""A plugin host process (`parley serve --role plugins`) beside a gateway+core process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from infra import Endpoints, fetch_access_token
from tests.support.server import REPO, ParleyProcess, isolated_settings, settings_env


class PluginHostProcess(ParleyProcess):
    """`parley serve --role plugins` with its workspace; ready once it listens to events."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_dir: Path,
        workspace: Path,
        mode: str = "dev",
        name: str = "plugins",
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(settings, "plugins", log_dir=log_dir, name=name)
        self.settings = self.settings.model_copy(update={"ws_port": -1})
        self.workspace = workspace
        self.mode = mode
        self.extra_env = env or {}

    def start(self, timeout_s: float = 60.0) -> ParleyProcess:
        env = settings_env(self.settings)
        env["PARLEY_PLUGIN_WORKSPACE"] = str(self.workspace)
        env["PARLEY_PLUGIN_MODE"] = self.mode
        env["PARLEY_PLUGIN_CACHE"] = str(self.workspace.parent / f"{self.name}-cache")
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "serve", "--role", "plugins"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout_s)
        return self


@pytest.fixture(scope="session")
def tokens(services: Endpoints) -> dict[str, str]:
    return {u: fetch_access_token(services.oidc_issuer, u) for u in ("alice", "bob")}


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return isolated_settings(settings)


@pytest.fixture
def chat_server(chat_settings: Settings, tmp_path: Path) -> Iterator[ParleyProcess]:
    proc = ParleyProcess(chat_settings, "all", log_dir=tmp_path).start()
    try:
        yield proc
    finally:
        proc.stop()
