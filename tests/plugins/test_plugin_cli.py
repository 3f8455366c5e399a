# ruff: noqa: E501
"""`parley plugin ...` against a real Git workspace in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO


def _parley(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_PLUGIN_WORKSPACE=str(tmp_path / "ws"),
        PARLEY_PLUGIN_CACHE=str(tmp_path / "cache"),
        # Nothing listens there: list shows the workspace alone.
        PARLEY_MONGO_URI="mongodb://127.0.0.1:9/parley",
    )
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", "plugin", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _git(tmp_path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(tmp_path / "ws"), *args], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("template", ["bot", "ui", "assistant"])
def test_new_scaffolds_commits_and_its_tests_pass(tmp_path: Path, template: str) -> None:
    made = _parley(tmp_path, "new", "hello", "--template", template)
    assert made.returncode == 0, made.stderr
    assert _git(tmp_path, "status", "--porcelain") == ""
    assert _git(tmp_path, "log", "-1", "--format=%s") == f"Add plugin hello ({template} template)\n"
    assert (tmp_path / "ws" / "hello" / "ui.js").exists() == (template == "ui")
    tested = _parley(tmp_path, "test", "hello")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_the_bundled_command_bot_passes_its_tests(tmp_path: Path) -> None:
    tested = _parley(tmp_path, "test", "commands")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout


def test_list_pin_and_unpin(tmp_path: Path) -> None:
    assert _parley(tmp_path, "new", "hello").returncode == 0
    first = _git(tmp_path, "rev-list", "--max-parents=0", "HEAD").strip()
    listed = _parley(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "version", "commit", "state", "hook", "calls", "p99", "ms", "host", "last", "error"]
    assert [line.split()[0] for line in lines[1:-1]] == ["activity", "commands", "hello", "local-assistant"]
    assert lines[2].split()[:4] == ["commands", "1.0.0", _git(tmp_path, "rev-parse", "HEAD")[:12], "not"]
    assert lines[-1] == "(no plugin host status: the store at mongodb://127.0.0.1:9/parley did not answer)"

    pinned = _parley(tmp_path, "pin", "commands", first[:10])
    assert pinned.stdout == f"commands pinned to {first[:12]}; running hosts switch within seconds\n"
    assert _parley(tmp_path, "list").stdout.splitlines()[2].split()[2] == first[:12]
    assert _parley(tmp_path, "unpin", "commands").stdout == "commands follows the workspace again\n"
    assert _parley(tmp_path, "unpin", "commands").stdout == "commands was not pinned\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("new", "Bad"), "parley plugin new: 'Bad' is not a plugin id (lowercase letters, digits, -)\n"),
        (("new", "commands"), "parley plugin new: {ws}/commands exists already\n"),
        (("test", "nope"), "parley plugin test: no plugin 'nope' in {ws}\n"),
        (("pin", "commands", "nope"), "parley plugin pin: 'nope' is not a commit of {ws}\n"),
    ],
    ids=["bad name", "exists", "unknown plugin", "unknown commit"],
)
def test_refusals_are_one_clear_line(tmp_path: Path, args: tuple[str, ...], error: str) -> None:
    done = _parley(tmp_path, *args)
    assert done.returncode == 1
    assert done.stderr == error.format(ws=tmp_path / "ws")
