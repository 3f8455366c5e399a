"""The bottom floor: what a process reports about itself, shared by every role.

    telemetry.metrics     Metrics: this process's Prometheus registry and its instruments
    telemetry.readiness   Readiness: named checks and the drain flag behind /readyz

No I/O and nothing of Parley imported: the roles update these, the gateway serves them.
"""
