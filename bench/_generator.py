"""Which load generator runs a job: the Go one (`bench/loadgen_go`) for the kinds it speaks,
built on demand, else the Python one (`python -m bench.loadgen`).

Both speak the same job protocol (job JSON as argv[1], result JSON as the last stdout line).
The Go generator exists because on a 2-core machine the Python one is the ceiling of the
fan-out figures. The choice is made once per process and cached, so Parley, its peer and the
no-op ceiling of a scenario are always measured by the same generator.
"""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

from bench._gobuild import GoBuildError, build_go

__all__ = ["GO_KINDS", "GO_SOURCES", "generator_command", "go_generator"]

GO_SOURCES = Path(__file__).resolve().parent / "loadgen_go"
# Job kinds the Go generator implements; every other kind runs in Python.
GO_KINDS = frozenset({"fanout"})


@functools.cache
def go_generator() -> Path | None:
    """The Go generator's binary, built when its sources changed; None (and a warning) when
    `go` is missing or the build fails, so that the caller falls back to Python."""
    go = shutil.which("go")
    if go is None:
        _warn("`go` not found")
        return None
    try:
        return build_go(go, GO_SOURCES, "loadgen_go")
    except GoBuildError as exc:
        _warn(str(exc))
        return None


def _warn(why: str) -> None:
    print(f"bench: warning: {why}; the Python load generator runs instead", file=sys.stderr)


def generator_command(kind: str, prefer: str = "go") -> tuple[list[str], str]:
    """(argv before the job JSON, "go" or "python") for a job of `kind`."""
    if prefer == "go" and kind in GO_KINDS:
        exe = go_generator()
        if exe is not None:
            return [str(exe)], "go"
    return [sys.executable, "-m", "bench.loadgen"], "python"
