"""`python -m bench` (what `make bench` runs)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from bench._cli import main


def _unwind(signum: int, frame: FrameType | None) -> None:
    # By default SIGTERM ends the process without unwinding, and the Kafka, store and servers
    # the bench started would outlive it. Unwind as Ctrl-C does: each `with` stops its own.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _unwind)
    sys.exit(main())
