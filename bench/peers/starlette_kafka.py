"""Ingest peer with the same durability promise as Parley: uvicorn + Starlette answering 202
only once Kafka acknowledged the record (idempotent producer, acks=all, linger 0).

It separates what the broker costs from what Parley's own path costs: the bare Starlette peer
answers without Kafka, this one pays the same broker round trip Parley pays. Records go to a
topic of its own (`bench.peer`), never to Parley's topics. Bootstrap servers come from the
environment variable BENCH_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import orjson
import uvicorn
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.peers._common import announce, bound_socket, now_iso

__all__ = ["main"]

TOPIC = "bench.peer"
_BOOTSTRAP = os.environ.get("BENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
_producer = Producer(
    {
        "bootstrap.servers": _BOOTSTRAP,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 0,
        "socket.nagle.disable": True,
    }
)
_stop = threading.Event()


def _poll_forever() -> None:
    # Delivery callbacks run inside poll(): one thread serves them for the whole process.
    while not _stop.is_set():
        _producer.poll(0.05)


async def post_message(request: Request) -> Response:
    try:
        body = orjson.loads(await request.body())
        thread, text = str(body["thread_id"]), str(body["text"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return Response(b'{"detail":"invalid body"}', 422, media_type="application/json")
    loop = asyncio.get_running_loop()
    acked: asyncio.Future[None] = loop.create_future()

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        def settle() -> None:
            if acked.done():
                return
            if err is None:
                acked.set_result(None)
            else:
                acked.set_exception(RuntimeError(str(err)))

        loop.call_soon_threadsafe(settle)

    message_id = str(uuid.uuid4())
    record = orjson.dumps({"message_id": message_id, "thread_id": thread, "text": text})
    _producer.produce(TOPIC, record, key=thread.encode(), on_delivery=delivered)
    try:
        await acked
    except RuntimeError:
        return Response(b'{"detail":"not acknowledged"}', 503, media_type="application/json")
    return Response(
        orjson.dumps({"message_id": message_id, "thread_id": thread, "accepted_at": now_iso()}),
        202,
        media_type="application/json",
    )


app = Starlette(routes=[Route("/api/messages", post_message, methods=["POST"])])


def main() -> None:
    admin = AdminClient({"bootstrap.servers": _BOOTSTRAP})
    for fut in admin.create_topics([NewTopic(TOPIC, 6, 1)]).values():
        try:
            fut.result(30)
        except Exception as exc:  # already there from an earlier run is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    poller = threading.Thread(target=_poll_forever, name="kafka-poll", daemon=True)
    poller.start()
    sock = bound_socket()
    announce(sock)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    try:
        asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))
    finally:
        _stop.set()
        _producer.flush(5)


if __name__ == "__main__":
    main()
