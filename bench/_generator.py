"""Which load generator runs a job: the Go one (`bench/loadgen_go`) for the kinds it speaks,
built on demand, else the Python one (`python -m bench.loadgen`).

Both speak the same job protocol (job JSON as argv[1], result JSON as the last stdout line).
The Go generator exists because on a 2-core machine the Python one is the ceiling of the
fan-out figures. The choice is made once per process and cached, so Parley, its peer and the
no-op ceiling of a scenario are always measured by the same generator.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["GO_KINDS", "GO_SOURCES", "generator_command", "go_generator"]

GO_SOURCES = Path(__file__).resolve().parent / "loadgen_go"
# Git-ignored (bench/.gitignore); one binary per source digest, older ones removed.
BUILD_DIR = Path(__file__).resolve().parent / ".build"
# Job kinds the Go generator implements; every other kind runs in Python.
GO_KINDS = frozenset({"fanout"})


def _source_digest(go: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, check=False, timeout=30)
    h.update(version.stdout)
    for path in sorted(GO_SOURCES.iterdir()):
        if path.name in ("go.mod", "go.sum") or (
            path.suffix == ".go" and not path.name.endswith("_test.go")
        ):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def go_generator() -> Path | None:
    """The Go generator's binary, built when its sources changed; None (and a warning) when
    `go` is missing or the build fails, so that the caller falls back to Python."""
    go = shutil.which("go")
    if go is None:
        _warn("`go` not found")
        return None
    try:
        exe = BUILD_DIR / f"loadgen_go-{_source_digest(go)}"
        if exe.exists():
            return exe
        BUILD_DIR.mkdir(exist_ok=True)
        tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")  # parallel runs may build too
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
        proc = subprocess.run(
            [go, "build", "-trimpath", "-o", str(tmp), "."],
            cwd=GO_SOURCES,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            _warn("go build failed: " + " | ".join(proc.stderr.strip().splitlines()[-5:]))
            return None
        os.replace(tmp, exe)
    except (OSError, subprocess.SubprocessError) as exc:
        _warn(f"go build failed: {type(exc).__name__}: {exc}")
        return None
    for old in BUILD_DIR.glob("loadgen_go-*"):
        if old != exe and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)
    return exe


def _warn(why: str) -> None:
    print(f"bench: warning: {why}; the Python load generator runs instead", file=sys.stderr)


def generator_command(kind: str, prefer: str = "go") -> tuple[list[str], str]:
    """(argv before the job JSON, "go" or "python") for a job of `kind`."""
    if prefer == "go" and kind in GO_KINDS:
        exe = go_generator()
        if exe is not None:
            return [str(exe)], "go"
    return [sys.executable, "-m", "bench.loadgen"], "python"
