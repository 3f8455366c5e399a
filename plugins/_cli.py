"""`parley plugin new|list|test|pin|unpin|logs`: the authoring tools.

Every command works on the workspace (`PARLEY_PLUGIN_WORKSPACE`, created with the examples
if missing). `list` and `logs` also read what running plugin hosts publish in the store
(collection plugin_status); without a reachable store, `list` shows the workspace alone.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

import trio

from adapters import (
    AdapterError,
    DocumentCollection,
    MongoStore,
    StoreOptions,
    path_exists,
    run_command,
    write_files,
)
from config.settings import Settings, load_settings

from ._errors import PluginError, PluginNotFound
from ._examples import TEMPLATES, scaffold
from ._settings import PluginSettings, load_plugin_settings
from ._workspace import Workspace

__all__ = ["plugin_main"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_STALE_S = 10.0


def plugin_main(args: argparse.Namespace) -> int:
    settings = load_settings()
    plugin_settings = load_plugin_settings()
    try:
        return trio.run(_main, args, settings, plugin_settings)
    except PluginError as exc:
        print(f"parley plugin {args.action}: {exc}", file=sys.stderr)
        return 1


async def _main(args: argparse.Namespace, settings: Settings, ps: PluginSettings) -> int:
    workspace = Workspace(
        ps.workspace_path(settings.state_dir), ps.mode, ps.cache_path(settings.state_dir)
    )
    if await workspace.ensure():
        print(f"created the plugin workspace {workspace.path} with the bundled examples")
    action = args.action
    if action == "new":
        return await _new(workspace, args.name, args.template)
    if action == "list":
        return await _list(workspace, settings)
    if action == "test":
        return await _test(workspace, args.name)
    if action == "pin":
        sha = await workspace.pin(args.id, args.commit)
        print(f"{args.id} pinned to {sha[:12]}; running hosts switch within seconds")
        return 0
    if action == "unpin":
        if await workspace.unpin(args.id):
            print(f"{args.id} follows the workspace again")
        else:
            print(f"{args.id} was not pinned")
        return 0
    if action == "logs":
        return await _logs(settings, args.name)
    raise AssertionError(action)


async def _new(workspace: Workspace, name: str, template: str) -> int:
    if not _NAME.match(name):
        raise PluginError(f"{name!r} is not a plugin id (lowercase letters, digits, -)")
    if template not in TEMPLATES:
        raise PluginError(f"unknown template {template!r} ({', '.join(TEMPLATES)})")
    folder = workspace.path / name
    if await path_exists(folder):
        raise PluginError(f"{folder} exists already")
    await write_files(folder, scaffold(name, template))
    head = await workspace.commit_all(f"Add plugin {name} ({template} template)", name)
    print(f"created {folder} ({template}) and committed it as {head[:12]}")
    print(f"add the member plugin:{name} to a thread, then: parley plugin test {name}")
    return 0


async def _status_docs(settings: Settings) -> list[dict[str, Any]] | None:
    store = MongoStore(
        StoreOptions(
            uri=settings.mongo_uri,
            write_majority=settings.mongo_write_majority,
            server_timeout_ms=2_000,
        )
    )
    try:
        await store.start()
        return await DocumentCollection(store, "plugin_status").find({})
    except AdapterError:
        return None
    finally:
        await store.close()


async def _list(workspace: Workspace, settings: Settings) -> int:
    scan = await workspace.scan()
    pins = await workspace.pins()
    docs = await _status_docs(settings)
    now = time.time()
    rows: list[list[str]] = []
    live = [d for d in docs or [] if now - float(d.get("updated_at", 0)) < _STALE_S]
    seen: set[str] = set()
    for doc in sorted(live, key=lambda d: (d["id"], d.get("host", ""))):
        seen.add(doc["id"])
        p99 = doc.get("p99_ms")
        rows.append(
            [
                doc["id"],
                doc.get("version", ""),
                doc.get("commit", "") + (" (pinned)" if doc["id"] in pins else ""),
                doc.get("state", ""),
                str(doc.get("hook_calls", 0)),
                "-" if p99 is None else f"{p99:.1f}",
                doc.get("host", ""),
                doc.get("last_error", ""),
            ]
        )
    for plugin_id, source in sorted(scan.sources.items()):
        if plugin_id not in seen:
            rows.append(
                [
                    plugin_id,
                    source.manifest.version,
                    source.commit,
                    "not running",
                    "0",
                    "-",
                    "-",
                    "",
                ]
            )
    for key, error in sorted(scan.errors.items()):
        if key not in seen:
            rows.append([key, "", "", "refused", "0", "-", "-", error])
    header = ["id", "version", "commit", "state", "hook calls", "p99 ms", "host", "last error"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    if docs is None:
        print(f"(no plugin host status: the store at {settings.mongo_uri} did not answer)")
    return 0


async def _test(workspace: Workspace, name: str) -> int:
    scan = await workspace.scan()
    folder = next((f for f, pid in scan.folders.items() if pid == name), None)
    if folder is None:
        if name in scan.errors:
            raise PluginError(scan.errors[name])
        raise PluginNotFound(f"no plugin {name!r} in {workspace.path}")
    root = workspace.path / folder
    env = {**os.environ, "PARLEY_PLUGIN_UNDER_TEST": str(root)}
    argv = [
        sys.executable, "-m", "pytest", "-q", "-p", "plugins._harness", "-p", "no:cacheprovider",
        "-o", "trio_mode=true", "--rootdir", str(root), str(root / "tests"),
    ]  # fmt: skip
    return await run_command(argv, cwd=str(root), env=env)


async def _logs(settings: Settings, name: str) -> int:
    docs = await _status_docs(settings)
    if docs is None:
        raise PluginError(f"the store at {settings.mongo_uri} did not answer")
    mine = [d for d in docs if d.get("id") == name]
    if not mine:
        raise PluginNotFound(f"no plugin host has reported {name!r}")
    for doc in sorted(mine, key=lambda d: str(d.get("host"))):
        if len(mine) > 1:
            print(f"== {doc.get('host')}")
        for line in doc.get("logs", []):
            print(line)
    return 0
