"""bench._freeze on a real process tree: a parent and its busy child are stopped together, the
kernel says so, and resumed; a child that did not survive a freeze is reported."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench._freeze import OneAtATime, freeze_tree, thaw_tree
from bench._targets import Target

# A parent that starts a child busy-looping (the spinning plugin host), then waits.
_TREE = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print(child.pid, flush=True)
child.wait()
"""


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    parent = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        yield parent.pid, child
    finally:
        for pid in (child, parent.pid):
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        parent.wait(10)


def _target(name: str, pid: int) -> Target:
    return Target(name=name, ws={}, http={}, server_pid=pid)


def test_freeze_stops_the_whole_tree_and_thaw_resumes_it(tree: tuple[int, int]) -> None:
    parent, child = tree
    stopped = freeze_tree(parent)
    assert stopped == [parent, child]
    assert (_state(parent), _state(child)) == ("T", "T")
    thaw_tree(stopped, child_lead_s=0.1)
    assert _state(parent) != "T" and _state(child) != "T"


def test_one_at_a_time_freezes_the_others_and_settles_the_resumed(tree: tuple[int, int]) -> None:
    parent, child = tree
    loaded, plain = _target("loaded", parent), _target("plain", os.getpid())
    settled: list[str] = []
    with OneAtATime([loaded], lambda t: settled.append(t.name), child_lead_s=0.1) as turns:
        turns.before_run(loaded)  # never frozen: nothing to resume or settle
        assert settled == [] and _state(child) != "T"
        turns.before_run(plain)
        turns.before_run(plain)  # still frozen, not frozen twice
        assert (_state(parent), _state(child), turns.freezes) == ("T", "T", 1)
        turns.before_run(loaded)
        assert settled == ["loaded"] and len(turns.settle_s) == 1
        assert _state(child) != "T" and turns.problems == []
        turns.before_run(plain)
    # Leaving resumes what is frozen.
    assert _state(parent) != "T" and _state(child) != "T"


def test_a_child_gone_after_a_freeze_is_reported(tree: tuple[int, int]) -> None:
    parent, child = tree
    loaded, plain = _target("loaded", parent), _target("plain", os.getpid())
    with OneAtATime([loaded], lambda t: None, child_lead_s=0.1) as turns:
        turns.before_run(plain)
        os.kill(child, signal.SIGKILL)  # as the supervisor would kill an unresponsive host
        turns.before_run(loaded)
    assert len(turns.problems) == 1 and str(child) in turns.problems[0]
