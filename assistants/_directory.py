"""Which thread members are assistants, and their validated configs: collection `assistants`.

The plugin host validates each loaded assistant plugin's config (`AssistantConfig`) and
writes it here under the plugin's bot member id (`plugin:<id>`); an unloaded plugin's entry is
removed. The core reads it when a user's message lands in a thread, to learn whether a member
is an assistant and how it answers. The store, not Kafka, because the core needs the current
config of one member on demand, and a core that starts later must find it.

Reads are cached for `CACHE_S` per member (a hit costs nothing on the message path; a config
change reaches the cores within that time).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from adapters import DocumentCollection
from assistants._config import AssistantConfig, AssistantConfigError

if TYPE_CHECKING:
    from adapters import MongoStore

__all__ = ["ASSISTANT_PREFIX", "AssistantDirectory", "is_bot"]

# Bot members (plugins) have ids with this prefix (plugins.bot_user_id); only they can be
# assistants, and their own messages never start a turn.
ASSISTANT_PREFIX = "plugin:"
CACHE_S = 5.0


def is_bot(member_id: str) -> bool:
    return member_id.startswith(ASSISTANT_PREFIX)


class AssistantDirectory:
    def __init__(self, store: MongoStore, *, context_tokens: int) -> None:
        self._docs = DocumentCollection(store, "assistants")
        self._context_tokens = context_tokens
        self._cache: dict[str, tuple[float, AssistantConfig | None]] = {}

    async def register(self, member_id: str, config: AssistantConfig, *, version: str) -> None:
        """Make `member_id` an assistant with `config` (the plugin host, at each load)."""
        await self._docs.put(
            member_id,
            {"config": config.model_dump(), "version": version, "updated_at": time.time()},
        )
        self._cache.pop(member_id, None)

    async def unregister(self, member_id: str) -> None:
        await self._docs.delete(member_id)
        self._cache.pop(member_id, None)

    async def get(self, member_id: str) -> AssistantConfig | None:
        """The member's assistant config, or None when it is not an assistant."""
        if not is_bot(member_id):
            return None
        now = time.monotonic()
        cached = self._cache.get(member_id)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        doc = await self._docs.get(member_id)
        config = self._load(doc)
        self._cache[member_id] = (now, config)
        return config

    def _load(self, doc: dict[str, Any] | None) -> AssistantConfig | None:
        if doc is None or not isinstance(doc.get("config"), dict):
            return None
        try:
            return AssistantConfig.load(doc["config"], context_tokens=self._context_tokens)
        except AssistantConfigError:
            # Valid for the host that wrote it but not for this core's model context: the
            # member does not answer here (the host's log said why when it loaded).
            return None
