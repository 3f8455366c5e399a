"""What plugin hosts tell each other: the version of each plugin the deployment runs.

    parley.plugin-versions   key=plugin id   value=PluginVersion   (a compacted topic)

A plugin host in commit mode that sees a plugin change in its own workspace (a new commit,
a pin, an unpin) publishes the plugin's new version here; every host (the publisher too)
runs the version of the newest record of each plugin, fetching the commit from its own
workspace's `origin` when it does not have it. Compaction keeps the newest record per plugin
forever, so a host started later reads the deployment's versions from the beginning of the
topic. Kafka orders the records of one key, so every host ends on the same record: the last
one wins, whichever host wrote it.

``commit`` is the full Git commit; ``tree`` the Git tree of the plugin's folder in it (two
commits that leave a plugin unchanged give the same tree, and no reload).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import orjson

from protocol.events import EventDecodeError, NonEmpty

__all__ = ["PLUGIN_VERSION_SCHEMA", "PluginVersion", "decode_plugin_version"]

PLUGIN_VERSION_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class PluginVersion:
    """The version of a plugin every plugin host should run."""

    plugin_id: NonEmpty
    version: NonEmpty
    commit: NonEmpty
    tree: NonEmpty
    announced_by: NonEmpty
    announced_at: float
    v: int = PLUGIN_VERSION_SCHEMA
    type: Literal["plugin.version"] = "plugin.version"

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))


def decode_plugin_version(raw: bytes) -> PluginVersion | None:
    """A record of parley.plugin-versions; None for a newer schema or another tag."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError("a plugin version must be a JSON object")
    if obj.get("type") != "plugin.version" or obj.get("v", 1) != PLUGIN_VERSION_SCHEMA:
        return None
    values: dict[str, str] = {}
    for key in ("plugin_id", "version", "commit", "tree", "announced_by"):
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            raise EventDecodeError(f"field {key!r} must be a non-empty string")
        values[key] = value
    at = obj.get("announced_at")
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise EventDecodeError("field 'announced_at' must be a number")
    return PluginVersion(
        plugin_id=values["plugin_id"],
        version=values["version"],
        commit=values["commit"],
        tree=values["tree"],
        announced_by=values["announced_by"],
        announced_at=float(at),
    )
