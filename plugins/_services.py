"""The real PluginServices of a hook context: Kafka for replies, the store for the rest.

post        chat.commands (key thread_id), like a gateway's post: Kafka first, the
            core's ThreadActor stores it once per message id and announces it
state       collection plugin_state, one document per (plugin, key)
schedule    collection plugin_schedule, one document per message id (a second host
            posting the same one is harmless: the store keeps one message per id)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

from adapters import DocumentCollection
from protocol.events import PostMessage, encode

from .api import JSONValue, StreamPart

if TYPE_CHECKING:
    from adapters import KafkaProducer, MongoStore
    from config.settings import Settings

__all__ = ["HostServices"]

log = logging.getLogger(__name__)


class HostServices:
    def __init__(
        self,
        settings: Settings,
        store: MongoStore,
        producer: KafkaProducer,
        members: Callable[[str], Awaitable[tuple[str, ...]]],
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer
        self._members = members
        self._state = DocumentCollection(store, "plugin_state")
        self.schedule_docs = DocumentCollection(store, "plugin_schedule")

    async def post(self, post: PostMessage) -> None:
        await self._producer.produce(
            self._settings.commands_topic, encode(post), key=post.thread_id
        )

    async def is_member(self, thread_id: str, user_id: str) -> bool:
        return user_id in await self._members(thread_id)

    async def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        page = await self._store.history(thread_id, limit=limit)
        return [asdict(event) for event in page.messages]

    async def state_get(self, plugin_id: str, key: str) -> tuple[bool, JSONValue]:
        doc = await self._state.get(f"{plugin_id}/{key}")
        if doc is None:
            return False, None
        value: JSONValue = orjson.loads(doc["json"])
        return True, value

    async def state_set(self, plugin_id: str, key: str, value: JSONValue) -> None:
        await self._state.put(
            # As JSON text: a plugin's keys may hold `.` or `$`, and its lists may nest, both
            # of which FerretDB refuses in a document.
            f"{plugin_id}/{key}",
            {"plugin_id": plugin_id, "key": key, "json": orjson.dumps(value).decode()},
        )

    async def state_delete(self, plugin_id: str, key: str) -> None:
        await self._state.delete(f"{plugin_id}/{key}")

    async def state_keys(self, plugin_id: str, prefix: str) -> list[str]:
        docs = await self._state.find({"plugin_id": plugin_id}, limit=100_000)
        return sorted(str(d["key"]) for d in docs if str(d["key"]).startswith(prefix))

    async def schedule(self, plugin_id: str, delay_s: float, post: PostMessage) -> None:
        await self.schedule_docs.insert(
            post.message_id,
            {"plugin_id": plugin_id, "due": time.time() + delay_s, "post": asdict(post)},
        )

    async def post_due(self) -> int:
        """Post every scheduled message that is due; returns how many."""
        due = await self.schedule_docs.find({"due": {"$lte": time.time()}}, limit=500)
        for doc in due:
            await self.post(PostMessage(**{**doc["post"], "created_at": _now()}))
            await self.schedule_docs.delete(str(doc["_id"]))
        return len(due)

    def stream_part(self, part: StreamPart) -> None:
        # The live path for deltas (WebSocket `turn` frames) is the assistants issue's; the
        # finished reply already goes through Kafka and the store.
        log.debug("stream part", extra={"kind": part.kind, "message_id": part.message_id})


def _now() -> str:
    from protocol.events import utc_now_iso

    return utc_now_iso()
