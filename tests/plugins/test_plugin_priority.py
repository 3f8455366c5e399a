"""The plugin host lowers its own CPU priority (in a child process: it cannot be undone)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.server import REPO

# A thread running before the call (as librdkafka's are) and one started after it must both
# end up with the priority; every thread's is printed, as the kernel reports it.
_PROBE = """
import os, sys, threading
from plugins._priority import lower_cpu_priority
stop = threading.Event()
threading.Thread(target=stop.wait).start()
lower_cpu_priority(sys.argv[1])
threading.Thread(target=stop.wait).start()
tids = [int(t) for t in os.listdir("/proc/self/task")]
assert len(tids) >= 3, tids
nices = {os.getpriority(os.PRIO_PROCESS, t) for t in tids}
idle = {os.sched_getscheduler(t) == os.SCHED_IDLE for t in tids}
stop.set()
print(",".join(map(str, sorted(nices))), ",".join(map(str, sorted(idle))))
"""


def _after(priority: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, priority],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    nice, idle = done.stdout.split()
    return nice, idle


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("low", ("19", "False")), ("idle", ("0", "True")), ("normal", ("0", "False"))],
)
def test_the_host_takes_the_priority_it_is_told(priority: str, expected: tuple[str, str]) -> None:
    assert _after(priority) == expected
