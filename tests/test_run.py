"""`make run` runs `parley run`: it must serve /healthz and, after Ctrl-C, leave nothing running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra import Ports, find_free_port

pytestmark = pytest.mark.integration


def _processes_naming(needle: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle.encode() in environ:
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def test_parley_run_serves_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    ports = Ports.free()
    http_port = find_free_port()
    state_dir = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_STATE_DIR=str(state_dir),
        PARLEY_KAFKA_PORT=str(ports.kafka),
        PARLEY_KAFKA_CONTROLLER_PORT=str(ports.kafka_controller),
        PARLEY_MONGO_PORT=str(ports.mongo),
        PARLEY_OIDC_PORT=str(ports.oidc),
        PARLEY_LLM_PORT=str(ports.llm),
        PARLEY_HTTP_PORT=str(http_port),
        PARLEY_WS_PORT=str(find_free_port()),
    )
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(
        [sys.executable, "-m", "parley.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert run.poll() is None, (tmp_path / "run.log").read_text()
            with contextlib.suppress(httpx.HTTPError):  # not listening yet: poll again
                if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        assert _processes_naming(str(state_dir)), "the local services should be running"
        # PARLEY_LLM_BASE_URL is unset: the local model server is one of them.
        model = httpx.get(f"http://127.0.0.1:{ports.llm}/health", timeout=5)
        assert model.status_code == 200
        run.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert run.wait(timeout=90) == 0, (tmp_path / "run.log").read_text()
    finally:
        if run.poll() is None:
            run.kill()
    output = (tmp_path / "run.log").read_text()
    assert "log in as alice" in output
    assert "the local model server" in output
    assert "stopped" in output
    assert _processes_naming(str(state_dir)) == []
