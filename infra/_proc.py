"""Detached service processes: spawn with a pidfile, recognise our own, stop them for sure.

A pid alone is not proof: after a reboot or a crash the number may belong to someone else's
process. A service is "ours" only if one argument of its /proc cmdline equals the marker we put
there (an argument naming a path inside the state directory), so `down` never signals a stranger.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["cmdline", "is_ours", "read_pid", "spawn", "terminate", "wait_gone"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGKILL when the thread that
    # forked it exits, so a test session killed with SIGKILL leaves no broker behind.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    cmd: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    pidfile: Path,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session, output appended to `log_path`, pid written to `pidfile`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec: Callable[[], None] | None = _die_with_parent if die_with_parent else None
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal must not reach the services
            preexec_fn=preexec,  # only prctl: safe between fork and exec
        )
    tmp = pidfile.with_suffix(".tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(pidfile)
    return proc


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, or None if it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.decode(errors="replace").split("\0")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # The state letter follows the parenthesised command name, which may itself hold spaces.
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def is_ours(pid: int | None, marker: str) -> bool:
    """True if `pid` is alive (not a zombie) and one of its arguments equals `marker`."""
    if pid is None or pid <= 0:
        return False
    argv = cmdline(pid)
    return argv is not None and marker in argv and not _is_zombie(pid)


def wait_gone(pid: int, marker: str, deadline_s: float) -> bool:
    """Wait until the process is gone (a zombie counts as gone). True if it went.

    It does not reap: the owner of the `Popen` does, so the exit status stays readable.
    """
    end = time.monotonic() + deadline_s
    while True:
        if not is_ours(pid, marker):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)


def terminate(
    pids: Mapping[int, str],
    deadline_s: float = 20.0,
    signals: Mapping[int, signal.Signals] | None = None,
) -> None:
    """SIGTERM (or the pid's entry in `signals`) every (pid, marker) still ours, then SIGKILL
    what is left after the deadline."""
    live = {pid: m for pid, m in pids.items() if is_ours(pid, m)}
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, (signals or {}).get(pid, signal.SIGTERM))
    end = time.monotonic() + deadline_s
    for pid, marker in live.items():
        if not wait_gone(pid, marker, max(0.0, end - time.monotonic())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, marker, 10.0)
