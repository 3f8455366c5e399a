"""The workspace with real Git repositories in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins._errors import PluginNotFound, WorkspaceError
from plugins._settings import Mode
from plugins._workspace import Workspace


def _ws(tmp_path: Path, mode: Mode = Mode.DEV) -> Workspace:
    return Workspace(tmp_path / "ws", mode, tmp_path / "cache")


async def test_first_start_creates_a_repository_with_the_examples(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    assert await ws.ensure() is True
    assert await ws.ensure() is False
    assert (await ws.git("status", "--porcelain")).strip() == ""
    scan = await ws.scan()
    assert sorted(scan.sources) == ["activity", "commands", "local-assistant"]
    assert scan.errors == {}
    source = scan.sources["commands"]
    assert source.commit == scan.head[:12]
    assert source.manifest.version == "1.0.0"
    assert "async def on_message" in source.entry_source


async def test_dev_mode_sees_saved_files_as_a_dirty_new_version(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    before = (await ws.scan()).sources["commands"]
    server = ws.path / "commands" / "server.py"
    server.write_text(server.read_text() + "\n# edited\n")
    after = (await ws.scan()).sources["commands"]
    assert after.commit == before.commit + "+dirty"
    assert after.digest != before.digest
    assert after.entry_source.endswith("# edited\n")


async def test_commit_mode_ignores_edits_until_they_are_committed(tmp_path: Path) -> None:
    ws = _ws(tmp_path, Mode.COMMIT)
    await ws.ensure()
    before = (await ws.scan()).sources["commands"]
    assert before.root.startswith(str(tmp_path / "cache"))
    server = ws.path / "commands" / "server.py"
    server.write_text(server.read_text() + "\n# edited\n")
    assert (await ws.scan()).sources["commands"].digest == before.digest
    head = await ws.commit_all("edit the bot")
    after = (await ws.scan()).sources["commands"]
    assert after.digest != before.digest
    assert after.commit == head[:12]
    assert after.entry_source.endswith("# edited\n")


async def test_pin_runs_an_earlier_commit_and_unpin_follows_head_again(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    first = await ws.head()
    server = ws.path / "commands" / "server.py"
    server.write_text(server.read_text() + "\n# second\n")
    await ws.commit_all("second")
    assert await ws.pin("commands", first[:8]) == first
    assert await ws.pins() == {"commands": first}
    pinned = (await ws.scan()).sources["commands"]
    assert pinned.commit == first[:12]
    assert "# second" not in pinned.entry_source
    assert await ws.unpin("commands") is True
    assert await ws.unpin("commands") is False
    assert "# second" in (await ws.scan()).sources["commands"].entry_source


async def test_pin_refuses_what_does_not_exist(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    with pytest.raises(WorkspaceError, match=r"^'nope' is not a commit of .*$"):
        await ws.pin("commands", "nope")
    head = await ws.head()
    with pytest.raises(PluginNotFound, match=rf"^commit {head[:12]} has no plugin 'other'$"):
        await ws.pin("other", head)


async def test_bad_manifests_and_clashing_ids_are_refused_beside_the_good(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    await ws.ensure()
    (ws.path / "broken").mkdir()
    (ws.path / "broken" / "plugin.toml").write_text('id = "broken"\n')
    (ws.path / "twin").mkdir()
    (ws.path / "twin" / "plugin.toml").write_text(
        (ws.path / "commands" / "plugin.toml").read_text()
    )
    (ws.path / "twin" / "server.py").write_text("")
    (ws.path / "noentry").mkdir()
    (ws.path / "noentry" / "plugin.toml").write_text(
        'id = "noentry"\nversion = "1.0.0"\napi_version = 1\n[server]\nentry = "main.py"\n'
    )
    scan = await ws.scan()
    assert sorted(scan.sources) == ["activity", "commands", "local-assistant"]
    assert scan.errors == {
        "broken": "broken/plugin.toml: field 'version': missing",
        "twin": (
            "twin/plugin.toml: field 'id': 'commands' is already the id of commands/plugin.toml"
        ),
        "noentry": "noentry/plugin.toml: field 'server.entry': main.py not found",
    }
