"""Locate the programs the local services need; a missing one is one clear line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from infra._errors import MissingToolError

__all__ = ["find_go", "find_java", "find_mvn"]

_JAVA_HINT = "java 17 not found: apt-get install openjdk-17-jre-headless"


@cache
def find_java() -> str:
    """Return a `java` executable of version 17 or later (JAVA_HOME first, then PATH)."""
    candidates = []
    if home := os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(home) / "bin" / "java"))
    if found := shutil.which("java"):
        candidates.append(found)
    for java in candidates:
        if not os.access(java, os.X_OK):
            continue
        version = _java_major(java)
        if version is not None and version >= 17:
            return java
        if version is not None:
            raise MissingToolError(
                f"java 17 not found (found java {version} at {java}): "
                "apt-get install openjdk-17-jre-headless"
            )
    raise MissingToolError(_JAVA_HINT)


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_x") on stderr.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@cache
def find_mvn() -> str:
    """Return the `mvn` executable that resolves the Kafka and OIDC provider jars."""
    found = shutil.which("mvn")
    if found is None:
        raise MissingToolError("mvn not found: apt-get install maven")
    find_java()  # Maven runs on the same JDK; say so before mvn fails less clearly.
    return found


@cache
def find_go() -> str:
    """Return the `go` executable that builds the FerretDB launcher (Go 1.21+ fetches 1.24)."""
    found = shutil.which("go")
    if found is None:
        for extra in ("/usr/local/go/bin/go", str(Path.home() / "go" / "bin" / "go")):
            if os.access(extra, os.X_OK):
                return extra
        raise MissingToolError(
            "go not found: install Go 1.22 or later (https://go.dev/dl/ or "
            "apt-get install golang-1.22 from bookworm-backports)"
        )
    return found
