"""Local files of the plugin workspace, read and written without blocking the event loop.

Small helpers over `trio.Path` (which runs each call in a worker thread) and `tar` through
`trio.run_process`; the plugin host and the `parley plugin` commands use nothing else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping

import trio

__all__ = [
    "extract_tar",
    "list_dirs",
    "path_exists",
    "read_files",
    "read_text",
    "remove_tree",
    "rename_path",
    "run_command",
    "watch_changes",
    "write_files",
]

_SKIP = frozenset({"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


async def read_text(path: str | os.PathLike[str]) -> str:
    return await trio.Path(path).read_text(encoding="utf-8")


async def path_exists(path: str | os.PathLike[str]) -> bool:
    return await trio.Path(path).exists()


async def list_dirs(path: str | os.PathLike[str]) -> list[str]:
    """Names of the sub-folders of `path` (sorted; hidden ones and caches left out)."""
    root = trio.Path(path)
    if not await root.is_dir():
        return []
    names = [p.name for p in await root.iterdir() if await p.is_dir()]
    return sorted(n for n in names if not n.startswith(".") and n not in _SKIP)


async def read_files(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every file under `path` by relative POSIX path (caches and hidden folders skipped)."""

    def walk() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(folder, name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                with open(full, "rb") as handle:
                    found[rel] = handle.read()
        return found

    return await trio.to_thread.run_sync(walk)


async def write_files(path: str | os.PathLike[str], files: Mapping[str, bytes | str]) -> None:
    """Write `files` (relative POSIX path -> content) under `path`, creating folders."""
    root = trio.Path(path)
    for rel, content in files.items():
        target = root / rel
        await target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            await target.write_text(content, encoding="utf-8")
        else:
            await target.write_bytes(content)


async def extract_tar(archive: bytes, into: str | os.PathLike[str]) -> None:
    """Unpack a tar archive (as `git archive` makes) into `into`, which is created."""
    await trio.Path(into).mkdir(parents=True, exist_ok=True)
    await trio.run_process(["tar", "-x", "-C", os.fspath(into)], stdin=archive)


async def rename_path(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move `source` to `target`; if `target` appeared meanwhile (another writer), keep it."""
    try:
        await trio.Path(source).rename(target)
    except OSError:
        if not await trio.Path(target).exists():
            raise
        await remove_tree(source)


async def remove_tree(path: str | os.PathLike[str]) -> None:
    import shutil

    await trio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))


async def run_command(
    argv: list[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Run a command with this process's stdout and stderr; returns its exit code."""
    done = await trio.run_process(
        argv, cwd=cwd, env=dict(env) if env is not None else None, check=False
    )
    return done.returncode


async def watch_changes(
    path: str | os.PathLike[str], stop: trio.Event, *, debounce_ms: int = 150
) -> AsyncIterator[set[str]]:
    """Batches of changed paths under `path` (watchfiles, debounced) until `stop` is set."""
    from watchfiles import awatch

    async for changes in awatch(
        os.fspath(path), stop_event=stop, debounce=debounce_ms, step=30, recursive=True
    ):
        yield {changed for _kind, changed in changes}
