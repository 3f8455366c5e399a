"""The browser app's pure modules (ordering, dedupe, gaps, backoff, config), run under Node.

They are plain ES modules without a bundler, so Node's built-in test runner loads the very
files the browser does (tests/browser/js/*.test.mjs). Node is part of the set-up (npm vendors
the browser's packages), so a missing node is a failure, not a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).parent / "js"


@pytest.mark.parametrize("name", sorted(p.name for p in JS_TESTS.glob("*.test.mjs")))
def test_frontend_module(name: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: apt-get install -y nodejs npm")
    proc = subprocess.run(
        [node, "--test", str(JS_TESTS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
