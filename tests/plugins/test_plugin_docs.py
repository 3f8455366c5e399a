"""docs/plugins.md: the tutorial's `parley plugin` commands work, in the order written."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.server import REPO

DOC = REPO / "docs" / "plugins.md"


def _commands() -> list[str]:
    """Every command of the tutorial's sh blocks but `export` and `parley serve` (a server)."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [
        line
        for line in lines
        if line and not line.startswith(("export ", "parley serve", "PARLEY_PLUGIN_HOST"))
    ]


def test_the_tutorial_commands_run(tmp_path: Path) -> None:
    commands = _commands()
    plugin_actions = [c.split()[2] for c in commands if c.startswith("parley plugin")]
    assert plugin_actions == ["new", "test", "list", "pin", "unpin", "logs"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(
        PARLEY_PLUGIN_WORKSPACE=str(tmp_path / "ws"),
        PARLEY_PLUGIN_CACHE=str(tmp_path / "cache"),
        PARLEY_MONGO_URI="mongodb://127.0.0.1:9/parley",  # no host running: nothing listens
        PATH=f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}",
    )
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if command.startswith("parley plugin logs"):
            # No plugin host has run: the store is not there to ask.
            assert done.returncode == 1
            assert done.stderr == (
                "parley plugin logs: the store at mongodb://127.0.0.1:9/parley did not answer\n"
            )
            continue
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    server = (tmp_path / "ws" / "greeter" / "server.py").read_text()
    assert 'await ctx.reply("Hi from greeter!")' in server
