"""The bottom floor: what a process reports about itself, shared by every role.

    Metrics         this process's Prometheus registry and its instruments
    Readiness       named checks and the drain flag behind /readyz
    ProcessStatus   both, plus readiness probes, gauge refreshers and snapshot sections
                    that each role adds while it is assembled

No I/O and nothing of Parley imported: the roles update these, the gateway serves them.
"""

from __future__ import annotations

from telemetry._status import Probe, ProcessStatus, process_id
from telemetry.metrics import LATENCY_BUCKETS_S, Metrics, seconds_since_iso
from telemetry.readiness import Readiness

__all__ = [
    "LATENCY_BUCKETS_S",
    "Metrics",
    "Probe",
    "ProcessStatus",
    "Readiness",
    "process_id",
    "seconds_since_iso",
]
