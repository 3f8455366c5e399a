"""Reference servers Parley is measured against, each run as its own process.

Every peer speaks the subset of Parley's protocol its scenario uses (auth, subscribe, send →
ack + broadcast, `POST /api/messages` → 202), binds 127.0.0.1 on a free port and prints
`{"port": N}` as its first stdout line.

- `ws_broadcast`: the `websockets` library (asyncio), broadcast with `websockets.broadcast`.
- `starlette_app`: uvicorn + Starlette; a bare JSON endpoint answering 202, plus a WebSocket
  route that broadcasts POSTed messages (the end-to-end peer: no broker, no store).
- `noop`: raw asyncio protocol doing the least possible work; the generator's ceiling.
- `starlette_kafka`: uvicorn + Starlette answering 202 after a Kafka ack (acks=all).
- `chat_go/` (Go, built on demand by `bench/_gobuild.py`, run by `bench/_gopeer.py`): the
  same-guarantee peer — JWKS-verified tokens, Kafka acks=all + idempotence before 202, a
  consumer that stores with a unique message_id and only then broadcasts over WebSocket.

Not a reference but Parley itself, for the A/B scripts (`bench.ws_fanout_compare`,
`bench.ws_idle_memory`):

- `ws_listener`: Parley's WebSocket listener alone, with a loopback ingest (no Kafka, no
  store); `ws_listener_nocork` is the same without the flusher.
"""

from __future__ import annotations

__all__: list[str] = []
