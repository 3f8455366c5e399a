"""`parley protocol new-event --type a.b` on a copy of the tree: the model, its registration,
a handler stub and a test are written, the browser module is regenerated, and the new test
passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.errors import ParleyError
from parley._scaffold import class_name
from parley.protocol_cli import protocol_main

REPO = Path(__file__).resolve().parents[1]


def test_class_names() -> None:
    assert class_name("thread.pinned") == "ThreadPinned"
    assert class_name("user.profile_updated") == "UserProfileUpdated"


def test_new_event_is_wired_and_its_test_passes(tmp_path: Path) -> None:
    for package in ("protocol", "core"):
        shutil.copytree(REPO / package, tmp_path / package)
    (tmp_path / "tests" / "protocol").mkdir(parents=True)
    (tmp_path / "frontend" / "app").mkdir(parents=True)
    assert protocol_main("new-event", event_type="thread.pinned", root=tmp_path) == 0

    domain = (tmp_path / "protocol" / "domain.py").read_text()
    assert "class ThreadPinned:" in domain
    assert '"thread.pinned": ThreadPinned,' in domain
    catalog = (tmp_path / "protocol" / "catalog.py").read_text()
    assert 'Payload("thread.pinned", ThreadPinned, ("domain-changes",))' in catalog
    assert 'HANDLERS["thread.pinned"]' in (tmp_path / "core" / "_domain_handlers.py").read_text()
    assert (tmp_path / "frontend" / "app" / "protocol.js").is_file()

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    test = tmp_path / "tests" / "protocol" / "test_domain_thread_pinned.py"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout

    with pytest.raises(ParleyError, match=r"^domain event 'thread.pinned' exists already$"):
        protocol_main("new-event", event_type="thread.pinned", root=tmp_path)
    with pytest.raises(
        ParleyError, match=r"^--type 'Archived': expected noun.verb, e.g. thread.archived$"
    ):
        protocol_main("new-event", event_type="Archived", root=tmp_path)
