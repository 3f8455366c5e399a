"""What each adapter needs to know, and nothing more: no adapter reads the whole Settings.

`parley._options` makes these from the operator's settings; tests and bench make them the
same way (or build one directly). Frozen: an adapter never changes what it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KafkaOptions", "LlmOptions", "StoreOptions"]


# The operator's settings have their defaults in config.settings, and only there: the fields
# that come from them have none here. What the operator does not set (pool, timeouts) does.


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """Where Kafka is and how Parley's producers, consumers and topics are set up."""

    bootstrap: str
    # Names the producer to the broker: client.id is "parley-producer-<client_name>".
    client_name: str
    session_timeout_ms: int
    # Where `KafkaProducer.send_to_dlq` copies a record that can never be processed.
    dlq_topic: str
    # Partitions of a topic `ensure_topics` creates (unless the caller says otherwise).
    topic_partitions: int
    # At shutdown: how long a producer flushes, and a consumer waits for acks, by default.
    drain_s: float


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Where the store is, how writes are acknowledged, and the client's pool and timeouts."""

    uri: str
    # w=majority, j=true on writes (the production setting).
    write_majority: bool
    # None: the URI's database, else "parley".
    database: str | None = None
    # Connections, and as many blocking calls at once on the store's thread limiter.
    pool_size: int = 16
    server_timeout_ms: int = 3_000


@dataclass(frozen=True, slots=True)
class LlmOptions:
    """Where the assistants' model is (any OpenAI-compatible API) and how long to wait for it."""

    # The API root that `/chat/completions` is appended to, e.g. "http://127.0.0.1:8090/v1".
    base_url: str
    # Sent as `Authorization: Bearer KEY` when not empty.
    api_key: str = field(repr=False)
    model: str
    connect_timeout_s: float = 5.0
    # From the request sent to the first text: includes the server's prompt processing, which
    # for a full 2,048-token context on one CPU thread is seconds, not milliseconds.
    first_token_timeout_s: float = 60.0
    # Longest gap between two chunks once the reply streams.
    idle_timeout_s: float = 20.0
