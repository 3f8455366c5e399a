"""CPU per message: each process's user + system seconds over the measured window, read from
/proc, divided by the messages the window delivered.

The generator marks the window itself (`{"window": "start"}` / `{"window": "stop"}` lines on
its stdout, see `bench.loadgen._common.mark_window`), so connecting the fleet, warming up and
tearing down are not charged. Groups are labelled: `app` (the server under test), the shared
services (`kafka`, `store`, `oidc`) and `generator`; `stack` is their sum. Every target of a
scenario runs on the same services, so an idle service costs every target the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["STACK", "CpuWindow", "cpu_seconds", "per_message"]

STACK = "stack"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system seconds of the processes (all their threads); a gone pid counts 0."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                # The command name may hold spaces or parentheses: split after the last ")".
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return total


def per_message(
    before: Mapping[str, float], after: Mapping[str, float], messages: int
) -> dict[str, float]:
    """Milliseconds of CPU per message for each group present in both samples, plus `stack`
    (their sum). Empty when no message was delivered: there is nothing to divide by."""
    if messages <= 0:
        return {}
    out = {
        group: max(0.0, after[group] - before[group]) * 1000 / messages
        for group in before
        if group in after
    }
    out[STACK] = sum(out.values())
    return out


@dataclass
class CpuWindow:
    """Samples of labelled process groups at the window's start and stop."""

    groups: dict[str, list[int]]
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        return {group: cpu_seconds(pids) for group, pids in self.groups.items()}

    def mark(self, edge: str) -> None:
        """`edge` as the generator sent it; anything but start/stop is ignored."""
        if edge == "start":
            self.before = self._sample()
        elif edge == "stop" and self.before:
            self.after = self._sample()

    @property
    def complete(self) -> bool:
        return bool(self.before and self.after)

    def per_message(self, messages: int) -> dict[str, float]:
        return per_message(self.before, self.after, messages) if self.complete else {}
