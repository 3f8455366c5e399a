"""Produce→ack latency of `adapters.KafkaProducer` on a local broker (a script, not a test).

    .venv/bin/python -m bench.kafka_latency --bootstrap 127.0.0.1:9092 [--n 2000]

For each librdkafka setting set it prints p50/p99 (ms) of `await producer.produce()` one record
at a time (what a REST post waits for) and with 32 concurrent posters, plus records/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import trio

from adapters import KafkaProducer, ensure_topics
from config.settings import load_settings
from parley._options import kafka_options


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(bootstrap: str, n: int, overrides: dict[str, Any]) -> dict[str, float]:
    options = kafka_options(load_settings(kafka_bootstrap=bootstrap))
    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    await ensure_topics(options, [topic], partitions=6)
    producer = KafkaProducer(options, **overrides)
    out: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(producer.run)
        for i in range(50):  # warm-up: connections, metadata, producer id
            await producer.produce(topic, b"warm", key=str(i))
        serial: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            await producer.produce(topic, b"x" * 200, key=f"thread-{i % 64}")
            serial.append((time.perf_counter() - t0) * 1000)
        out["serial_p50"], out["serial_p99"] = pct(serial, 50), pct(serial, 99)
        out["serial_mean"] = statistics.fmean(serial)

        concurrent: list[float] = []

        async def poster(k: int) -> None:
            for i in range(n // 32):
                t0 = time.perf_counter()
                await producer.produce(topic, b"x" * 200, key=f"thread-{(k * 7 + i) % 64}")
                concurrent.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        async with trio.open_nursery() as posters:
            for k in range(32):
                posters.start_soon(poster, k)
        elapsed = time.perf_counter() - t0
        out["c32_p50"], out["c32_p99"] = pct(concurrent, 50), pct(concurrent, 99)
        out["c32_rate"] = len(concurrent) / elapsed
        producer.stop()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    variants: list[tuple[str, dict[str, Any]]] = [
        ("adapters defaults (linger.ms=0, nagle off)", {}),
        ("linger.ms=1", {"linger.ms": 1}),
        ("linger.ms=5 (librdkafka default)", {"linger.ms": 5}),
        ("nagle on", {"socket.nagle.disable": False}),
    ]
    head = f"{'p50':>7} {'p99':>7} {'mean':>7} | {'c32 p50':>8} {'c32 p99':>8} {'rec/s':>8}"
    print(f"{'setting (ms)':48} {head}")
    for name, overrides in variants:
        r = await measure(args.bootstrap, args.n, overrides)
        print(
            f"{name:48} {r['serial_p50']:7.2f} {r['serial_p99']:7.2f} {r['serial_mean']:7.2f} | "
            f"{r['c32_p50']:8.2f} {r['c32_p99']:8.2f} {r['c32_rate']:8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    trio.run(main)
