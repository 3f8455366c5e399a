"""`parley ops ps|tree|restart|drain` against a real `parley serve`, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.server import REPO, ParleyProcess

pytestmark = pytest.mark.integration


def _parley_ops(server: ParleyProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_OPS_URL=server.http_url, PARLEY_TOKEN=token)
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", "ops", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ps_tree_restart_and_refusals(server: ParleyProcess, tokens: dict[str, str]) -> None:
    process_id = server.settings.gateway_id
    admin = tokens["admin"]
    deadline = time.monotonic() + 30
    while True:
        ps = _parley_ops(server, admin, "ps")
        assert ps.returncode == 0, ps.stderr
        if f"commands: {server.settings.commands_topic}[0]" in ps.stdout:
            break
        assert time.monotonic() < deadline, ps.stdout
        time.sleep(0.3)
    header, *rows = ps.stdout.splitlines()
    assert header.split()[:4] == ["ID", "ROLE", "STATE", "VERSION"]
    (row,) = [r for r in rows if r.startswith(process_id)]
    assert row.split()[1:3] == ["all", "running"]

    restart = _parley_ops(server, admin, "restart", process_id, "/parley/threads")
    assert restart.returncode == 0, restart.stderr
    assert restart.stdout == f"{process_id}: restarted /parley/threads (restarts: 1)\n"

    tree = _parley_ops(server, admin, "tree")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == f"{process_id} (all, running)"
    (threads,) = [line for line in lines if "[/parley/threads]" in line]
    assert threads.startswith("  threads  [/parley/threads]  registry, running, age ")
    assert "restarts 1" in threads

    refused = _parley_ops(server, tokens["alice"], "ps")
    assert refused.returncode == 1
    assert refused.stderr.startswith("parley ops: HTTP 403 admin_required: ")
    not_here = _parley_ops(server, admin, "restart", process_id, "/parley/store")
    assert not_here.returncode == 1
    assert not_here.stderr.startswith("parley ops: HTTP 409 not_restartable: /parley/store is a")


def test_drain_from_the_cli_exits_zero(server: ParleyProcess, tokens: dict[str, str]) -> None:
    process_id = server.settings.gateway_id
    drain = _parley_ops(server, tokens["admin"], "drain", process_id)
    assert drain.returncode == 0, drain.stderr
    assert drain.stdout == f"{process_id}: draining\n"
    assert server.proc is not None
    assert server.proc.wait(timeout=30) == 0, server.tail()
