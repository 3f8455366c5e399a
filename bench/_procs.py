"""Processes of the bench: peers and generators as children, their memory and CPU from /proc."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench._cpu import cpu_seconds
from bench._errors import BenchError
from bench._generator import generator_command

__all__ = [
    "ServerProcess",
    "cpu_seconds",
    "quiesce",
    "raise_fd_limit",
    "rss_bytes",
    "run_generator",
    "start_peer",
]


def raise_fd_limit() -> None:
    """Children inherit it: the servers under test need as many sockets as the generator."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


def quiesce(
    pids: Sequence[int], below: float = 0.05, limit_s: float = 30.0, sample_s: float = 0.5
) -> float:
    """Wait until the processes use less than `below` of a core (a backlog from the previous
    run would otherwise be charged to the next one). Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        before = cpu_seconds(pids)
        time.sleep(sample_s)
        if (cpu_seconds(pids) - before) / sample_s < below:
            break
    return time.monotonic() - start


@dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_peer(
    module: str, name: str, env: dict[str, str] | None = None, timeout_s: float = 30.0
) -> ServerProcess:
    """Start `python -m module`, which prints {"port": N} first once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = proc.stdout.readline()
    if not line or time.monotonic() > deadline:
        proc.kill()
        raise BenchError(f"peer {name} did not start (exit {proc.poll()})")
    return ServerProcess(name, proc, int(orjson.loads(line)["port"]))


def run_generator(
    job: dict[str, Any],
    timeout_s: float = 600.0,
    prefer: str = "go",
    on_window: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Run one load-generator job in its own process; its last stdout line is the result,
    which says in `generator` which generator ran it ("go" or "python", see _generator).

    Lines `{"window": EDGE}` before it mark the measured window: `on_window(EDGE, pid)` runs
    as each arrives (pid: the generator's), so CPU can be sampled at the window's edges."""
    command, generator = generator_command(job["kind"], prefer)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*command, orjson.dumps(job).decode()],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        lines: list[bytes] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                edge = _window_edge(line)
                if edge is None:
                    lines.append(line)
                elif on_window is not None:
                    on_window(edge, proc.pid)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if timed_out.is_set():
            raise BenchError(f"generator job {job['kind']} ran past {timeout_s:.0f} s")
        err.seek(0)
        stderr = err.read()
    text = [ln for ln in (b.decode().strip() for b in lines) if ln]
    if returncode != 0 or not text:
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{generator} generator job {job['kind']} failed: " + " | ".join(tail))
    result: dict[str, Any] = orjson.loads(text[-1])
    result["generator"] = generator
    return result


def _window_edge(line: bytes) -> str | None:
    if not line.startswith(b'{"window"'):
        return None
    edge = orjson.loads(line).get("window")
    return str(edge) if edge is not None else None
