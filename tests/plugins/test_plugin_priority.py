"""The plugin host lowers its own CPU priority (in a child process: it cannot be undone)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.server import REPO

_PROBE = """
import os, sys
from plugins._priority import lower_cpu_priority
lower_cpu_priority(sys.argv[1])
print(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0) == os.SCHED_IDLE)
"""


def _after(priority: str) -> tuple[int, bool]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, priority],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    nice, idle = done.stdout.split()
    return int(nice), idle == "True"


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("low", (19, False)), ("idle", (0, True)), ("normal", (0, False))],
)
def test_the_host_takes_the_priority_it_is_told(priority: str, expected: tuple[int, bool]) -> None:
    assert _after(priority) == expected
