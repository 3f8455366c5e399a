"""Go programs of the bench, built on demand into `bench/.build/` (git-ignored): the load
generator (`bench/loadgen_go`) and the same-guarantee peer (`bench/peers/chat_go`).

One binary per source digest (Go version, go.mod, go.sum, non-test sources); older ones of
the same program are removed. Builds use the local toolchain and the Go module proxy.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

__all__ = ["BUILD_DIR", "GoBuildError", "build_go", "source_digest"]

BUILD_DIR = Path(__file__).resolve().parent / ".build"


class GoBuildError(Exception):
    """Raised when `go` is missing or a build fails; the message says why."""


def source_digest(go: str, sources: Path) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, check=False, timeout=30)
    h.update(version.stdout)
    for path in sorted(sources.iterdir()):
        if path.name in ("go.mod", "go.sum") or (
            path.suffix == ".go" and not path.name.endswith("_test.go")
        ):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_go(go: str, sources: Path, name: str, timeout_s: float = 600.0) -> Path:
    """The binary of the Go module in `sources`, built when its sources changed."""
    try:
        exe = BUILD_DIR / f"{name}-{source_digest(go, sources)}"
        if exe.exists():
            return exe
        BUILD_DIR.mkdir(exist_ok=True)
        tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")  # parallel runs may build too
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
        proc = subprocess.run(
            [go, "build", "-trimpath", "-o", str(tmp), "."],
            cwd=sources,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise GoBuildError(
                "go build failed: " + " | ".join(proc.stderr.strip().splitlines()[-5:])
            )
        os.replace(tmp, exe)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoBuildError(f"go build failed: {type(exc).__name__}: {exc}") from exc
    for old in BUILD_DIR.glob(f"{name}-*"):
        if old != exe and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)
    return exe
