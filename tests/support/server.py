"""A `parley serve` subprocess aimed at the session's real services, owned by one test.

Each test gets its own topics, consumer group and database (see `isolated_settings`), so
tests sharing the session's broker and store never see each other's messages.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from config.settings import Role, Settings
from infra import find_free_port

__all__ = ["ParleyProcess", "isolated_settings", "settings_env"]

REPO = Path(__file__).resolve().parents[2]


def isolated_settings(settings: Settings, **overrides: Any) -> Settings:
    """Settings with topics, group and database of their own."""
    tag = uuid.uuid4().hex[:10]
    base_uri = settings.mongo_uri.rsplit("/", 1)[0]
    update: dict[str, Any] = {
        "commands_topic": f"t{tag}.commands",
        "events_topic": f"t{tag}.events",
        "dlq_topic": f"t{tag}.dlq",
        "turns_topic": f"t{tag}.turns",
        "core_group": f"core-{tag}",
        "mongo_uri": f"{base_uri}/parley_{tag}",
        "user_rate_per_s": 1000.0,
        "user_rate_burst": 1000,
        "shutdown_grace_s": 10.0,
        "kafka_session_timeout_ms": 6000,
    }
    update.update(overrides)
    return settings.model_copy(update=update)


def rebuild_snapshots(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`parley snapshots rebuild` against the deployment `settings` describe."""
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", "snapshots", "rebuild"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"PARLEY_{name.upper()}"] = str(value.value if hasattr(value, "value") else value)
    return env


class ParleyProcess:
    """One `parley serve --role ROLE` on free ports; stop() asserts a clean SIGTERM exit."""

    def __init__(
        self,
        settings: Settings,
        role: str = "all",
        *,
        log_dir: Path,
        name: str = "",
        ca: Path | None = None,
    ) -> None:
        self.role = role
        self.name = name or role
        self.settings = settings.model_copy(
            update={
                "http_port": find_free_port(),
                "ws_port": find_free_port() if role != "core" else -1,
                "role": Role(role),
                "gateway_id": f"{self.name}-{uuid.uuid4().hex[:6]}",
            }
        )
        # With TLS on (PARLEY_TLS_CERT), the CA that clients here trust.
        self.ca = ca
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        )
        self.log_path = log_dir / f"parley-{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws_url = ""

    @property
    def http_url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://127.0.0.1:{self.settings.http_port}"

    @property
    def fast_url(self) -> str:
        """The fast listener as an HTTP base URL: it answers the REST posting routes too."""
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://127.0.0.1:{self.settings.ws_port}"

    def start(self, timeout_s: float = 60.0) -> ParleyProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parley.cli", "serve", "--role", self.role],
            env=settings_env(self.settings),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout_s)
        if self.role != "core":
            config = httpx.get(f"{self.http_url}/config.js", timeout=5, verify=self.verify).text
            match = re.search(r"window\.PARLEY_CONFIG = (\{.*\});", config, re.S)
            assert match, config
            self.ws_url = json.loads(match.group(1))["wsUrl"]
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"parley {self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                answer = httpx.get(f"{self.http_url}/readyz", timeout=2, verify=self.verify)
                if answer.status_code == 200:
                    return
                last = answer.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(f"parley {self.name} not ready in {timeout_s}s: {last}\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self, timeout_s: float = 25.0) -> int:
        """SIGTERM and wait; returns the exit code (kills and fails after the timeout)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"parley {self.name} did not exit within {timeout_s}s") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        code = self.terminate()
        assert code == 0, f"parley {self.name} exited with {code}:\n{self.tail()}"
