"""`parley infra build`: Kafka and OIDC provider jars from Maven Central; FerretDB and toxiproxy.

Every step writes a stamp holding the hash of its inputs, so a second build is a fast no-op and a
changed pom or go.sum rebuilds only its part. A file lock serialises builds started at the same
time (several test sessions may call this concurrently).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra._errors import BuildError
from infra._paths import (
    FERRETDB_BIN,
    FERRETDB_DIR,
    KAFKA_DIR,
    OIDC_DIR,
    TOXIPROXY_BIN,
)
from infra._tools import find_go, find_java, find_mvn

__all__ = ["BuildReport", "build", "is_built"]

_STAMP = ".parley-stamp"
# The toolchain FerretDB 1.24's own go.mod names; used only if the installed Go cannot build it.
_FALLBACK_GO_TOOLCHAIN = "go1.24.3"
# The network fault proxy of the chaos tests (latency, resets, a cut store link), pinned. Its
# module has no replace directive, so `go install module@version` builds it from the proxy.
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"


@dataclass(frozen=True)
class BuildReport:
    """What one build did: the steps that ran, those already up to date, and the seconds spent."""

    built: tuple[str, ...]
    up_to_date: tuple[str, ...]
    seconds: float


def _digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _mvn_inputs(project: Path) -> list[Path]:
    return [project / "pom.xml"]


def _go_inputs() -> list[Path]:
    return [FERRETDB_DIR / n for n in ("main.go", "go.mod", "go.sum")]


def _fresh(stamp: Path, expected: str, output: Path) -> bool:
    """The output exists and its stamp records the inputs it was built from (`expected`)."""
    try:
        return output.exists() and stamp.read_text().strip() == expected
    except FileNotFoundError:
        return False


def is_built() -> bool:
    """True when the jars, the launcher and toxiproxy match their inputs (no tool is run)."""
    return (
        _fresh(KAFKA_DIR / "libs" / _STAMP, _digest(_mvn_inputs(KAFKA_DIR)), KAFKA_DIR / "libs")
        and _fresh(OIDC_DIR / "libs" / _STAMP, _digest(_mvn_inputs(OIDC_DIR)), OIDC_DIR / "libs")
        and _fresh(FERRETDB_DIR / "bin" / _STAMP, _digest(_go_inputs()), FERRETDB_BIN)
        and _toxiproxy_fresh()
    )


def _toxiproxy_fresh() -> bool:
    # Its input is the pinned module version rather than files of ours.
    return _fresh(TOXIPROXY_BIN.parent / _STAMP, TOXIPROXY_MODULE, TOXIPROXY_BIN)


@contextmanager
def _build_lock() -> Iterator[None]:
    # The lock lives in a git-ignored folder so it never shows up as a change.
    lock = FERRETDB_DIR / "bin" / ".build.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(what: str, cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise BuildError(f"{what} failed (exit {proc.returncode}): {tail}")


def _build_jars(project: Path) -> None:
    libs = project / "libs"
    # A pom change may drop a jar; start from an empty folder so no stale jar stays on the path.
    shutil.rmtree(libs, ignore_errors=True)
    _run(
        f"mvn dependency:copy-dependencies in {project.name}",
        [find_mvn(), "-q", "-B", "dependency:copy-dependencies"],
        project,
    )
    (libs / _STAMP).write_text(_digest(_mvn_inputs(project)) + "\n")


def _build_ferretdb() -> None:
    go = find_go()
    out_dir = FERRETDB_DIR / "bin"
    out_dir.mkdir(exist_ok=True)
    tmp = out_dir / f".ferretdb-launcher.{os.getpid()}"
    cmd = [go, "build", "-trimpath", "-mod=readonly", "-o", str(tmp), "."]
    env = dict(os.environ)
    try:
        _run("go build of the FerretDB launcher", cmd, FERRETDB_DIR, env)
    except BuildError:
        # FerretDB 1.24 targets Go 1.22-1.24; a much newer Go may refuse it, an older toolchain
        # comes from the module proxy.
        env["GOTOOLCHAIN"] = _FALLBACK_GO_TOOLCHAIN
        what = f"go build of the FerretDB launcher ({_FALLBACK_GO_TOOLCHAIN})"
        _run(what, cmd, FERRETDB_DIR, env)
    tmp.replace(FERRETDB_BIN)
    (out_dir / _STAMP).write_text(_digest(_go_inputs()) + "\n")


def _build_toxiproxy() -> None:
    out_dir = TOXIPROXY_BIN.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    # `go install` names the binary after its package ("server"); build it aside, then rename.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".gobin.") as gobin:
        env = dict(os.environ, GOBIN=gobin)
        cmd = [find_go(), "install", "-trimpath", TOXIPROXY_MODULE]
        _run("go install of toxiproxy", cmd, out_dir, env)
        (Path(gobin) / "server").replace(TOXIPROXY_BIN)
    (out_dir / _STAMP).write_text(TOXIPROXY_MODULE + "\n")


def build(*, force: bool = False) -> BuildReport:
    """Fetch the jars and build the launcher unless they are already up to date."""
    started = time.monotonic()
    built: list[str] = []
    fresh: list[str] = []
    find_java()  # every service runs on it: fail first and clearly
    with _build_lock():
        for name, project in (("kafka jars", KAFKA_DIR), ("oidc jars", OIDC_DIR)):
            libs = project / "libs"
            if not force and _fresh(libs / _STAMP, _digest(_mvn_inputs(project)), libs):
                fresh.append(name)
            else:
                _build_jars(project)
                built.append(name)
        if not force and _fresh(FERRETDB_DIR / "bin" / _STAMP, _digest(_go_inputs()), FERRETDB_BIN):
            fresh.append("ferretdb launcher")
        else:
            _build_ferretdb()
            built.append("ferretdb launcher")
        if not force and _toxiproxy_fresh():
            fresh.append("toxiproxy")
        else:
            _build_toxiproxy()
            built.append("toxiproxy")
        # Imported here: the services import this module's neighbours, not the other way round.
        from infra._cds import missing_archives, train_archives
        from infra._llm import ensure_libgomp

        # The local model server's OpenMP runtime, from Debian (like chromium for the browser).
        if ensure_libgomp():
            built.append("libgomp1 (apt-get)")
        else:
            fresh.append("libgomp1")

        if missing_archives():
            trained = train_archives()
            if trained:
                built.append(f"class-data archives ({', '.join(trained)})")
        else:
            fresh.append("class-data archives")
    return BuildReport(tuple(built), tuple(fresh), time.monotonic() - started)
