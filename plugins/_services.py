"""The real PluginServices of a hook context: Kafka for replies, the store for the rest.

post        chat.commands (key thread_id), like a gateway's post: Kafka first, the
            core's ThreadActor stores it once per message id and announces it
stream      chat.turns (key thread_id): a streamed reply's parts as `turn` records, the
            same frames an assistant's turn gives browsers; the reply itself is a post
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

from adapters import AdapterError, DocumentCollection
from protocol.events import PostMessage, encode
from protocol.turns import (
    MAX_REASON_CHARS,
    TurnDelta,
    TurnFinished,
    TurnRecord,
    TurnStarted,
    encode_turn,
)

from .api import JSONValue, StreamPart

if TYPE_CHECKING:
    from adapters import KafkaProducer, MongoStore
    from config.settings import Settings

__all__ = ["HostServices", "stream_turn_record"]

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

    async def stream_part(self, part: StreamPart) -> None:
        """A streamed reply's part as a `turn` record on the turns topic: every gateway shows
        it growing like an assistant's turn. Lossy by design (the stored reply is what
        counts), so a part that cannot be queued is logged, never the hook's failure."""
        record = stream_turn_record(part, started_at=_now())
        topic = self._settings.turns_topic
        try:
            if isinstance(record, TurnFinished):
                # Awaited: once the hook returns, every gateway can have the whole reply.
                await self._producer.produce(topic, encode_turn(record), key=part.thread_id)
            else:
                await self._producer.produce_then(
                    topic, encode_turn(record), part.thread_id, _ignore_report
                )
        except AdapterError as exc:
            log.warning("stream part not sent", extra={"kind": part.kind, "why": str(exc)})


def stream_turn_record(part: StreamPart, *, started_at: str) -> TurnRecord:
    """A plugin's stream part as the turn record browsers already follow; the turn id is the
    reply's message id (a redelivered trigger streams under the same id)."""
    turn_id = part.message_id
    if part.kind == "start":
        return TurnStarted(
            thread_id=part.thread_id,
            turn_id=turn_id,
            assistant_id=part.sender_id,
            reply_to=part.reply_to,
            message_id=part.message_id,
            started_at=started_at,
        )
    if part.kind == "delta":
        return TurnDelta(part.thread_id, turn_id, part.index, part.text)
    if part.kind == "finish":
        return TurnFinished(
            part.thread_id, turn_id, "complete", part.index, message_id=part.message_id
        )
    reason = (part.text or "the plugin ended its reply")[:MAX_REASON_CHARS]
    return TurnFinished(part.thread_id, turn_id, "error", part.index, reason=reason)


def _ignore_report(error: object) -> None:
    """Deltas are lossy: a failed report is the reader's gap, which it repairs."""


def _now() -> str:
    from protocol.events import utc_now_iso

    return utc_now_iso()
