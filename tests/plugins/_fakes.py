"""In-memory PluginServices for unit tests of pure logic (integration tests use the real ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugins._loader import PluginSource
from plugins._manifest import parse_manifest
from plugins.api import JSONValue, StreamPart
from protocol.events import PostMessage


class FakeServices:
    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.posts: list[PostMessage] = []
        self.scheduled: list[tuple[float, PostMessage]] = []
        self.parts: list[StreamPart] = []
        self.state: dict[tuple[str, str], JSONValue] = {}
        self.members = members or {}
        self.stored: dict[str, list[dict[str, Any]]] = {}

    async def post(self, post: PostMessage) -> None:
        self.posts.append(post)

    async def is_member(self, thread_id: str, user_id: str) -> bool:
        return user_id in self.members.get(thread_id, set())

    async def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        return self.stored.get(thread_id, [])[-limit:]

    async def state_get(self, plugin_id: str, key: str) -> tuple[bool, JSONValue]:
        if (plugin_id, key) in self.state:
            return True, self.state[(plugin_id, key)]
        return False, None

    async def state_set(self, plugin_id: str, key: str, value: JSONValue) -> None:
        self.state[(plugin_id, key)] = value

    async def state_delete(self, plugin_id: str, key: str) -> None:
        self.state.pop((plugin_id, key), None)

    async def state_keys(self, plugin_id: str, prefix: str) -> list[str]:
        return sorted(k for p, k in self.state if p == plugin_id and k.startswith(prefix))

    async def schedule(self, plugin_id: str, delay_s: float, post: PostMessage) -> None:
        self.scheduled.append((delay_s, post))

    async def stream_part(self, part: StreamPart) -> None:
        self.parts.append(part)


def plugin_source(
    root: Path, code: str, *, plugin_id: str = "echo", runtime: str = "", digest: str = "d0"
) -> PluginSource:
    root.mkdir(parents=True, exist_ok=True)
    (root / "server.py").write_text(code)
    text = (
        f'id = "{plugin_id}"\nversion = "0.1.0"\napi_version = 1\n'
        f'[server]\nentry = "server.py"\n{runtime}'
    )
    manifest = parse_manifest(text, str(root / "plugin.toml"))
    return PluginSource(manifest, str(root), code, commit="c0ffee", digest=digest)
