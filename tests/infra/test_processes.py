"""Stopping processes: only ours (by command-line marker), SIGKILL after the deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from infra._proc import is_ours, read_pid, spawn, terminate

_STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
_POLITE = "import time; time.sleep(600)"


def _start(tmp_path: Path, code: str, marker: str) -> subprocess.Popen[bytes]:
    return spawn(
        [sys.executable, "-c", code, marker],
        cwd=tmp_path,
        log_path=tmp_path / "p.log",
        pidfile=tmp_path / "p.pid",
    )


def _ignores_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(status.split("SigIgn:")[1].split()[0], 16)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def _poll_until(pred: Callable[[], bool], bound_s: float = 30.0) -> None:
    # A bound, not a timing assertion: a loaded machine may take a while to schedule the child.
    end = time.monotonic() + bound_s
    while not pred():
        assert time.monotonic() < end
        time.sleep(0.01)


def test_sigterm_stops_a_polite_process(tmp_path: Path) -> None:
    marker = f"--marker={tmp_path}"
    proc = _start(tmp_path, _POLITE, marker)
    assert read_pid(tmp_path / "p.pid") == proc.pid
    _poll_until(lambda: is_ours(proc.pid, marker))
    terminate({proc.pid: marker}, deadline_s=60)
    assert proc.wait(timeout=5) == -signal.SIGTERM


def test_sigkill_after_the_deadline_for_a_process_ignoring_sigterm(tmp_path: Path) -> None:
    marker = f"--marker={tmp_path}"
    proc = _start(tmp_path, _STUBBORN, marker)
    _poll_until(lambda: _ignores_sigterm(proc.pid))
    terminate({proc.pid: marker}, deadline_s=0.5)
    assert proc.wait(timeout=5) == -signal.SIGKILL


def test_a_process_without_our_marker_is_never_signalled(tmp_path: Path) -> None:
    proc = _start(tmp_path, _POLITE, "--marker=someone-else")
    try:
        _poll_until(lambda: is_ours(proc.pid, "--marker=someone-else"))
        assert not is_ours(proc.pid, f"--marker={tmp_path}")
        terminate({proc.pid: f"--marker={tmp_path}"}, deadline_s=0.1)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
