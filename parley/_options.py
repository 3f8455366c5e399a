"""The adapters' options, made from the operator's settings: the one place that knows both.

The adapters sit below `config` in what they may know of: each takes a small options object
of its own (adapters/_options.py). `parley serve`, the bench and the tests make those here,
so a setting reaches an adapter by one road.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters import KafkaOptions, LlmOptions, StoreOptions

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["kafka_options", "llm_options", "store_options"]


def kafka_options(settings: Settings) -> KafkaOptions:
    return KafkaOptions(
        bootstrap=settings.kafka_bootstrap,
        client_name=settings.gateway_id or "local",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        dlq_topic=settings.dlq_topic,
        topic_partitions=settings.topic_partitions,
        # Half the shutdown grace for the producer's flush and the consumers' drain.
        drain_s=settings.shutdown_grace_s / 2,
    )


def store_options(settings: Settings, *, database: str | None = None) -> StoreOptions:
    return StoreOptions(
        uri=settings.mongo_uri,
        write_majority=settings.mongo_write_majority,
        database=database,
    )


def llm_options(settings: Settings) -> LlmOptions:
    return LlmOptions(
        base_url=settings.llm_url,
        api_key=settings.llm_api_key.get_secret_value(),
        model=settings.llm_model,
    )
