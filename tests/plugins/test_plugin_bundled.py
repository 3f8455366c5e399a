"""New bundled examples reach an existing workspace, deleted ones stay deleted: real Git
repositories in temporary folders; a newer release's bundle is EXAMPLES with one more."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import trio

from config.settings import Settings
from plugins import _workspace
from plugins._bundled import RECORD_PATH, parse_record
from plugins._errors import WorkspaceError
from plugins._examples import EXAMPLES
from plugins._settings import Mode
from plugins._workspace import Workspace
from tests.plugins.conftest import PluginHostProcess
from tests.support.server import ParleyProcess

NEWBIE = {
    "plugin.toml": 'id = "newbie"\nversion = "2.0.0"\napi_version = 1\n'
    '[server]\nentry = "server.py"\n',
    "server.py": "async def on_message(ctx, message):\n    await ctx.reply('new!')\n",
}
VERSIONS = {"activity": "1.0.0", "commands": "1.0.0", "local-assistant": "1.0.0"}


def _ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws", Mode.DEV, tmp_path / "cache")


def _record(ws: Workspace) -> dict[str, str]:
    return parse_record((ws.path / RECORD_PATH).read_text())


async def _log(ws: Workspace) -> list[str]:
    return (await ws.git("log", "--format=%s")).splitlines()


def _newer_release(monkeypatch: pytest.MonkeyPatch, **extra: dict[str, str]) -> None:
    monkeypatch.setattr(_workspace, "EXAMPLES", {**EXAMPLES, **extra})


async def test_a_new_workspace_records_the_examples_it_was_given(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    assert await ws.ensure() is True
    assert _record(ws) == VERSIONS
    assert (await ws.git("status", "--porcelain")).strip() == ""
    assert (await ws.git("ls-files", RECORD_PATH)).strip() == RECORD_PATH
    # Nothing new to offer: no commit.
    assert await ws.offer_examples() == []
    assert len(await _log(ws)) == 1
    # The record is not a plugin.
    assert sorted((await ws.scan()).sources) == sorted(VERSIONS)


async def test_a_new_bundled_example_is_added_in_one_commit_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    _newer_release(monkeypatch, newbie=NEWBIE)
    assert await ws.offer_examples() == ["newbie"]
    assert (await _log(ws))[0] == "Parley: add the bundled example newbie 2.0.0"
    assert (await ws.git("status", "--porcelain")).strip() == ""
    shown = await ws.git("show", "--name-only", "--format=", "HEAD")
    assert sorted(shown.split()) == [RECORD_PATH, "newbie/plugin.toml", "newbie/server.py"]
    assert _record(ws) == {**VERSIONS, "newbie": "2.0.0"}
    assert "newbie" in (await ws.scan()).sources
    assert await ws.offer_examples() == []
    assert len(await _log(ws)) == 2


async def test_a_deleted_example_stays_deleted_and_a_changed_one_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    await ws.git("rm", "-rq", "commands")
    await ws.commit_all("I do not want the command bot")
    server = ws.path / "activity" / "server.py"
    mine = server.read_text() + "\n# my change, not committed\n"
    server.write_text(mine)
    changed_activity = {**EXAMPLES["activity"], "server.py": "# a newer activity\n"}
    _newer_release(monkeypatch, activity=changed_activity)
    assert await ws.offer_examples() == []
    assert not (ws.path / "commands").exists()
    assert server.read_text() == mine
    assert len(await _log(ws)) == 2


async def test_a_workspace_from_before_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older release created it with two examples; its user then deleted one.
    ws = _ws(tmp_path)
    old = {k: v for k, v in EXAMPLES.items() if k in ("commands", "activity")}
    monkeypatch.setattr(_workspace, "EXAMPLES", old)
    await ws.ensure()
    await ws.git("rm", "-rq", RECORD_PATH)
    await ws.git("rm", "-rq", "activity")
    await ws.commit_all("no activity panel for me")
    # The user's own plugin in a folder named as a later example: never written over.
    mine = ws.path / "newbie"
    mine.mkdir()
    (mine / "plugin.toml").write_text('id = "my-newbie"\nversion = "0.1.0"\n')
    await ws.commit_all("my own plugin")

    _newer_release(monkeypatch, newbie=NEWBIE)
    assert await ws.offer_examples() == ["local-assistant"]
    assert (await _log(ws))[0] == "Parley: add the bundled example local-assistant 1.0.0"
    # Present (commands), in the first commit (activity), the folder taken (newbie): offered.
    assert _record(ws) == {**VERSIONS, "newbie": "2.0.0"}
    assert not (ws.path / "activity").exists()
    assert (mine / "plugin.toml").read_text().startswith('id = "my-newbie"')
    assert await ws.offer_examples() == []


async def test_a_workspace_from_before_the_record_with_nothing_new_records_it(
    tmp_path: Path,
) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    await ws.git("rm", "-rq", RECORD_PATH)
    await ws.commit_all("as an older release left it")
    assert await ws.offer_examples() == []
    assert (await _log(ws))[0] == (
        "Parley: record the bundled examples offered (activity, commands, local-assistant)"
    )
    assert _record(ws) == VERSIONS


async def test_a_repository_made_by_hand_is_left_alone(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    (ws.path / "mine").mkdir(parents=True)
    (ws.path / "mine" / "plugin.toml").write_text('id = "mine"\nversion = "0.1.0"\n')
    await ws.git("init", "-q", "-b", "main")
    await ws.commit_all("my plugins")
    assert await ws.ensure() is False
    assert await ws.offer_examples() == []
    assert await _log(ws) == ["my plugins"]
    assert not (ws.path / RECORD_PATH).exists()
    # A record written by hand opts it in.
    (ws.path / RECORD_PATH).parent.mkdir()
    (ws.path / RECORD_PATH).write_text('[offered]\ncommands = "1.0.0"\n')
    assert await ws.offer_examples() == ["local-assistant", "activity"]
    assert not (ws.path / "commands").exists()


async def test_a_commit_mode_clone_with_a_remote_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = _ws(tmp_path)
    await origin.ensure()
    clone = Workspace(tmp_path / "clone", Mode.COMMIT, tmp_path / "cache")
    await origin.git("clone", "-q", str(origin.path), str(clone.path))
    _newer_release(monkeypatch, newbie=NEWBIE)
    assert await clone.offer_examples() == []
    assert len(await _log(clone)) == 1
    # The repository they clone takes the new example; the clones get it by pulling.
    assert await origin.offer_examples() == ["newbie"]


async def test_a_broken_record_refuses_naming_the_file(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    (ws.path / RECORD_PATH).write_text("[offered]\ncommands = 1\n")
    with pytest.raises(
        WorkspaceError,
        match=r"^\.parley/bundled\.toml: \[offered\] must map plugin ids to version strings$",
    ):
        await ws.offer_examples()
    (ws.path / RECORD_PATH).write_text("[offered\n")
    with pytest.raises(WorkspaceError, match=r"^\.parley/bundled\.toml: not TOML: .*$"):
        await ws.offer_examples()


def test_the_record_survives_git_clone(tmp_path: Path) -> None:
    """Another host's clone (commit mode) reads the same record: it is committed."""
    ws = _ws(tmp_path)
    trio.run(ws.ensure)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws.path), str(clone)], check=True)
    assert parse_record((clone / RECORD_PATH).read_text()) == VERSIONS


@pytest.mark.integration
async def test_a_plugin_host_adds_the_new_examples_on_start(
    chat_server: ParleyProcess,
    chat_settings: Settings,
    tokens: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An older release gave this workspace the command bot alone; its user edits it.
    ws = _ws(tmp_path)
    monkeypatch.setattr(_workspace, "EXAMPLES", {"commands": EXAMPLES["commands"]})
    await ws.ensure()
    server = ws.path / "commands" / "server.py"
    mine = server.read_text().replace("Commands:", "My commands:")
    server.write_text(mine)

    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=ws.path)
    host.start()
    try:
        assert (await _log(ws))[0] == (
            "Parley: add the bundled examples local-assistant 1.0.0, activity 1.0.0"
        )
        assert _record(ws) == VERSIONS
        assert server.read_text() == mine
        auth = {"Authorization": f"Bearer {tokens['alice']}"}
        async with httpx.AsyncClient(base_url=chat_server.http_url, timeout=15) as http:
            with trio.fail_after(60):
                while True:
                    listed = (await http.get("/api/plugins", headers=auth)).json()["plugins"]
                    states = {p["id"]: p["state"] for p in listed}
                    if states.get("activity") == "running":
                        break
                    await trio.sleep(0.2)
        assert "commands" in states
    finally:
        host.stop()
    # A second start offers nothing more.
    host = PluginHostProcess(chat_settings, log_dir=tmp_path, workspace=ws.path, name="again")
    host.start()
    host.stop()
    assert len(await _log(ws)) == 2
