"""The plugin host's CPU priority: chat first, plugins with what is left.

A plugin that busy-loops holds a CPU whatever its deadline says (a deadline can only cancel at
an await). On a machine the host shares with the chat path (`--role all` with its child host,
or any small deployment), the kernel's scheduler is the one thing that can keep such a plugin
from taking CPU the chat needs, so the host process asks for a low priority at start:

- `low` (default): nice 19, a CFS weight of 15 against a normal process's 1024: a busy plugin
  gets about 1.5 % of a CPU the chat wants, and all of an idle one.
- `idle`: SCHED_IDLE, weight 3: runs only on CPU nothing else wants. The host's /healthz may
  then go unanswered under sustained chat load, and the parent respawns the child.
- `normal`: leave the priority alone (a host on a machine of its own).
"""

from __future__ import annotations

import logging
import os
from typing import Literal

__all__ = ["CpuPriority", "lower_cpu_priority"]

CpuPriority = Literal["low", "idle", "normal"]

log = logging.getLogger("parley.plugins")

_NICEST = 19


def lower_cpu_priority(priority: CpuPriority) -> None:
    """Apply `priority` to every thread of this process (librdkafka's too).

    On Linux a nice value and a scheduling policy belong to a thread, not to the process:
    `setpriority(PRIO_PROCESS, 0)` changes the calling thread only, and a new thread inherits
    its creator's. So each thread running now is changed by its id, and those started later
    inherit the priority from the thread that starts them.
    """
    if priority == "normal":
        return
    changed = 0
    for tid in _thread_ids():
        try:
            if priority == "idle":
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            else:
                os.setpriority(os.PRIO_PROCESS, tid, _NICEST)
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except OSError as exc:  # not allowed in this container: run at the normal priority
            log.warning("plugin host CPU priority not lowered", extra={"why": str(exc)})
            return
        changed += 1
    log.info("plugin host CPU priority lowered", extra={"priority": priority, "threads": changed})


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except FileNotFoundError:  # no /proc: this thread alone
        return [0]
