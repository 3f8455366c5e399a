"""One local service: its folder in the state directory, its process, its readiness probe."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path

from infra._errors import ServiceStartError
from infra._proc import is_ours, read_pid, spawn

__all__ = ["Service", "tcp_open"]


def tcp_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Service(ABC):
    """A detached process with a pidfile and a log under `state_dir/name/`."""

    name: str
    port_env: str  # the setting that moves `port`, named in errors
    start_deadline_s: float = 60.0
    # What `down` sends first (SIGKILL follows after the deadline).
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, state_dir: Path, port: int, *, die_with_parent: bool = False) -> None:
        self.dir = state_dir / self.name
        self.port = port
        self.die_with_parent = die_with_parent
        self.pidfile = self.dir / f"{self.name}.pid"
        self.log_path = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Set by `infra._cds` for the one training start that records the JVM's loaded classes.
        self.dump_cds = False

    # --- what each service defines ---------------------------------------------------------
    @property
    @abstractmethod
    def marker(self) -> str:
        """One argument of the command line that names this state directory (see `_proc`)."""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that starts the service (after `prepare`)."""

    def env(self) -> dict[str, str] | None:
        return None

    def listen_ports(self) -> list[tuple[int, str]]:
        """Every port the service binds, with the environment name that moves it."""
        return [(self.port, self.port_env)]

    @property
    def cds_archive(self) -> Path | None:
        """The JVM class-data archive of this service (None: not a JVM service)."""
        return None

    @property
    def cds_dump_path(self) -> Path | None:
        archive = self.cds_archive
        return None if archive is None else archive.with_name(f"{archive.name}.{os.getpid()}.tmp")

    def cds_flags(self) -> list[str]:
        """JVM flags that use the class-data archive (about a third less CPU to start)."""
        archive, dump = self.cds_archive, self.cds_dump_path
        if archive is None or dump is None:
            return []
        if self.dump_cds:
            return [f"-XX:ArchiveClassesAtExit={dump}"]
        # A stale archive (other JDK, other jars) is ignored by the JVM with a warning in the log.
        return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []

    def prepare(self) -> None:
        """Write configuration and initialise storage before the first start."""
        self.dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def probe(self) -> bool:
        """One quick readiness check with a real client; False while not ready yet."""

    # --- shared behaviour ------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running process of this service, or None."""
        pid = read_pid(self.pidfile)
        return pid if is_ours(pid, self.marker) else None

    def launch(self) -> None:
        self.prepare()
        self.proc = spawn(
            self.command(),
            cwd=self.dir,
            log_path=self.log_path,
            pidfile=self.pidfile,
            env=self.env(),
            die_with_parent=self.die_with_parent,
        )

    def wait_ready(self, deadline: float) -> None:
        """Poll `probe` until it answers; fail early with the log's tail if the process died."""
        while True:
            if self.probe():
                return
            # Our own child's exit status is definitive; another process's start has only /proc.
            code = self.proc.poll() if self.proc is not None else None
            if code is not None or (self.proc is None and self.pid() is None):
                raise ServiceStartError(
                    f"{self.name} exited during start (exit {code}); "
                    f"log {self.log_path}: {self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"{self.name} not ready on 127.0.0.1:{self.port} after "
                    f"{self.start_deadline_s:.0f}s; log {self.log_path}: {self.log_tail()}"
                )
            time.sleep(0.1)

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
