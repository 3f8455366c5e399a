"""One target at a time: a target that would use CPU while another one is measured is frozen.

Why: the plugins scenario's loaded Parley runs a plugin host child that busy-loops through a
backlog it can never clear. Left running while the plain Parley is measured, it holds one of
the machine's two CPUs, and the plain Parley is measured on what is left.

How: SIGSTOP to the server and every descendant, each stopped before its children are listed
(a stopped process starts no new one); SIGCONT the other way round: the descendants first,
then, `child_lead_s` later, the server. The order is for the server's supervision of its
plugin host child (adapters/_child.py): the server probes the child's /healthz every 0.5 s,
each probe with a 2 s timeout, and kills a child whose last answer is older than
PARLEY_PLUGIN_UNRESPONSIVE_S (10 s by default). A freeze lasts longer than that, so on the
server's resume its last answer is always too old: a probe that was waiting for its answer
when the server was stopped would find its deadline passed and, unanswered, get the child
killed and respawned (seen in a tiny run: a child busy with its backlog is slow to answer,
so a probe is often in flight). So the child is resumed first and the server only once the
child answers /healthz to the bench (found through the child's PARLEY_HTTP_PORT): by then it
has answered the server's waiting probe too, and the server's Trio loop takes the ready answer
before it expires deadlines; a probe that was not in flight is sent after the resume, to a
child already answering. Whether the
child survived is checked after each resume (the server's child processes must be the same
pids) and reported.

A resumed target must settle before it is measured: Kafka ended its consumers' group
sessions while it was frozen. `settle` (the scenario's) waits until it delivers again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import httpx

from bench._scenarios import _with_children
from bench._targets import Target

__all__ = ["OneAtATime", "freeze_tree", "thaw_tree"]


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _state(pid: int) -> str:
    """The kernel's one-letter state of `pid` ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:  # FileNotFoundError, or ProcessLookupError while it is being reaped
        return ""


def _alive(pid: int) -> bool:
    """Running or stopped, not exited (a zombie not reaped yet counts as exited)."""
    return _state(pid) not in ("", "Z", "X")


def _until_stopped(pid: int, limit_s: float = 5.0) -> None:
    """SIGSTOP takes effect when the process next runs: wait until the kernel shows it."""
    deadline = time.monotonic() + limit_s
    while _state(pid) not in ("T", "", "Z", "X") and time.monotonic() < deadline:
        time.sleep(0.001)


def freeze_tree(pid: int) -> list[int]:
    """SIGSTOP `pid` and its descendants; the pids stopped, parents before children."""
    stopped: list[int] = []
    todo = [pid]
    while todo:
        found = todo.pop(0)
        if _signal(found, signal.SIGSTOP):
            _until_stopped(found)
            stopped.append(found)
            todo.extend(_with_children(found)[1:])
    return stopped


def _health_url(pid: int) -> str | None:
    """A Parley child's /healthz (its PARLEY_HTTP_PORT), or None for any other process."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    except OSError:  # gone (a zombie's environ reads as ProcessLookupError), or not ours
        return None
    if b"PARLEY_ROLE" not in env or b"PARLEY_HTTP_PORT" not in env:
        return None
    return f"http://127.0.0.1:{int(env[b'PARLEY_HTTP_PORT'])}/healthz"


def _until_answering(pids: Sequence[int], limit_s: float = 30.0) -> None:
    """Wait until each Parley child among `pids` answers /healthz: by then it has answered
    the probe its parent may have left waiting when it was frozen."""
    deadline = time.monotonic() + limit_s
    for url in filter(None, map(_health_url, pids)):
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)


def thaw_tree(stopped: Sequence[int], child_lead_s: float = 1.0) -> None:
    """SIGCONT what freeze_tree stopped: the descendants; once its Parley children answer
    /healthz and at least `child_lead_s` later, the root."""
    if not stopped:
        return
    root, descendants = stopped[0], stopped[1:]
    for pid in reversed(descendants):
        _signal(pid, signal.SIGCONT)
    if descendants:
        started = time.monotonic()
        _until_answering(descendants)
        time.sleep(max(0.0, child_lead_s - (time.monotonic() - started)))
    _signal(root, signal.SIGCONT)


class OneAtATime:
    """`before_run(target)` (a Bench hook) freezes each of `targets` other than the one about
    to run, and resumes and settles that one when it was frozen. Leaving the context resumes
    every frozen target (without settling)."""

    def __init__(
        self,
        targets: Sequence[Target],
        settle: Callable[[Target], None],
        child_lead_s: float = 1.0,
    ) -> None:
        self.targets = list(targets)
        self.settle = settle
        self.child_lead_s = child_lead_s
        self._frozen: dict[str, list[int]] = {}
        self._children: dict[str, list[int]] = {}
        self.freezes = 0
        # Seconds from each resume to the target's settling
        self.settle_s: list[float] = []
        # What went wrong on a resume: a child process that did not survive it
        self.problems: list[str] = []

    def before_run(self, target: Target) -> None:
        for t in self.targets:
            if t.name != target.name:
                self._freeze(t)
        for t in self.targets:
            if t.name == target.name and t.name in self._frozen:
                started = time.monotonic()
                self._thaw(t)
                self.settle(t)
                self.settle_s.append(time.monotonic() - started)
                self._check_children(t)

    def _freeze(self, target: Target) -> None:
        if target.name in self._frozen:
            return
        self._children[target.name] = _with_children(target.server_pid)[1:]
        self._frozen[target.name] = freeze_tree(target.server_pid)
        self.freezes += 1

    def _thaw(self, target: Target) -> None:
        thaw_tree(self._frozen.pop(target.name, []), self.child_lead_s)

    def _check_children(self, target: Target) -> None:
        before = self._children.get(target.name, [])
        after = [pid for pid in _with_children(target.server_pid)[1:] if _alive(pid)]
        gone = sorted(set(before) - set(after))
        if gone:
            self.problems.append(
                f"{target.name}: child process(es) {gone} gone after resume #{self.freezes} "
                f"(children now {after})"
            )

    def __enter__(self) -> OneAtATime:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self.targets:
            self._thaw(t)
