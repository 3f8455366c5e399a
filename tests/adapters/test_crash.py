"""A consuming process killed (SIGKILL) or drained (SIGTERM) mid-stream, then restarted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from adapters import KafkaProducer, MongoStore
from config.settings import Settings
from parley._options import kafka_options
from tests.adapters._helpers import (
    assert_stored_exactly,
    committed_offsets,
    eventually,
    new_topic,
    produce_chat,
    unique,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
N = 300


class Worker:
    """One `_worker.py` process; its stdout is read line by line."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._buffer = b""

    async def read_until(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            chunk = await self.proc.stdout.receive_some(4096)
            if not chunk:
                raise AssertionError(f"worker ended before {prefix!r}: {self.lines}")
            self._buffer += chunk
            *done, self._buffer = self._buffer.split(b"\n")
            self.lines += [d.decode() for d in done]

    async def stop(self) -> tuple[int, dict[str, Any]]:
        self.proc.send_signal(signal.SIGTERM)
        line = await self.read_until("{")
        return await self.proc.wait(), json.loads(line)


@pytest.fixture
async def launch(settings: Settings, store: MongoStore) -> AsyncIterator[Any]:
    procs: list[trio.Process] = []

    async def start(cfg: dict[str, Any]) -> Worker:
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "tests.adapters._worker", json.dumps(cfg)],
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        procs.append(proc)
        worker = Worker(proc)
        with trio.fail_after(30):
            await worker.read_until("STARTED")
        return worker

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _setup(settings: Settings, store: MongoStore) -> tuple[dict[str, Any], list[str]]:
    topic, events = await new_topic(settings), await new_topic(settings)
    dlq = await new_topic(settings, partitions=1)
    producer = KafkaProducer(kafka_options(settings))
    async with trio.open_nursery() as nursery:
        await nursery.start(producer.run)
        ids = await produce_chat(producer, topic, N)
        producer.stop()
    cfg = {
        "bootstrap": settings.kafka_bootstrap,
        "mongo_uri": settings.mongo_uri,
        "database": store.database,
        "topic": topic,
        "events_topic": events,
        "dlq_topic": dlq,
        "group": unique("core"),
        "instance_id": unique("core-1"),
        "delay_s": 0.03,
    }
    return cfg, ids


async def test_sigkill_mid_stream_then_restart_stores_each_once(
    settings: Settings, store: MongoStore, launch: Any
) -> None:
    cfg, ids = await _setup(settings, store)
    first = await launch(cfg)
    await eventually(lambda: _at_least(store, 60), 60)
    first.proc.kill()
    assert await first.proc.wait() == -signal.SIGKILL
    stored_at_kill = await store.count_messages()
    assert stored_at_kill < N

    second = await launch(cfg)  # same static member id: rejoins at once
    await eventually(lambda: _at_least(store, N), 90)
    code, stats = await second.stop()
    assert code == 0
    await assert_stored_exactly(store, ids)
    assert await committed_offsets(settings, cfg["group"], cfg["topic"], 3) == N
    # What the killed process stored but had not committed comes back as duplicates.
    assert stats["stored"] + stats["duplicates"] == stats["acked"]
    print(f"redelivered after SIGKILL: {stats['duplicates']}")


async def test_sigterm_mid_stream_commits_what_it_stored(
    settings: Settings, store: MongoStore, launch: Any
) -> None:
    cfg, ids = await _setup(settings, store)
    first = await launch(cfg)
    await eventually(lambda: _at_least(store, 60), 60)
    code, stats = await first.stop()
    assert code == 0
    stored = await store.count_messages()
    assert 60 <= stored < N
    assert stats["stored"] == stored
    assert stats["unflushed"] == 0 and stats["producer_in_flight"] == 0
    assert stats["produced"] == stored
    assert await committed_offsets(settings, cfg["group"], cfg["topic"], 3) == stored

    # The next process starts exactly where the first one stopped: nothing twice.
    second = await launch(cfg)
    await eventually(lambda: _at_least(store, N), 90)
    code, stats = await second.stop()
    assert code == 0
    assert stats["duplicates"] == 0
    await assert_stored_exactly(store, ids)
    assert await committed_offsets(settings, cfg["group"], cfg["topic"], 3) == N


async def _at_least(store: MongoStore, n: int) -> bool:
    return await store.count_messages() >= n
