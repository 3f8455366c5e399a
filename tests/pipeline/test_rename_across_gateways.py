"""A rename on gateway A, seen on gateway B: a core and two gateways as separate processes
(the relay runs in the core), against the real broker and store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
import trio

from adapters import read_whole_topic
from config.settings import Settings
from parley._options import kafka_options
from tests.adapters._helpers import eventually
from tests.support.server import ParleyProcess, isolated_settings
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


async def test_rename_on_gateway_a_reaches_a_client_on_gateway_b_and_the_topic_once(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    topic = f"d{uuid.uuid4().hex[:10]}.domain-changes"
    shared = isolated_settings(settings, domain_changes_topic=topic)
    procs = [
        ParleyProcess(shared, "core", log_dir=tmp_path, name="core"),
        ParleyProcess(shared, "gateway", log_dir=tmp_path, name="gateway-a"),
        ParleyProcess(shared, "gateway", log_dir=tmp_path, name="gateway-b"),
    ]
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    try:
        for proc in procs:
            await trio.to_thread.run_sync(proc.start)
        _, gw_a, gw_b = procs
        async with (
            httpx.AsyncClient(base_url=gw_a.http_url, timeout=10) as via_a,
            httpx.AsyncClient(base_url=gw_b.http_url, timeout=10) as via_b,
        ):
            made = await via_a.post(
                "/api/threads", json={"title": "before", "members": ["bob"]}, headers=alice
            )
            assert made.status_code == 201, made.text
            thread_id = made.json()["thread_id"]
            async with chat_socket(gw_b.ws_url, tokens["bob"]) as bob_on_b:
                await bob_on_b.subscribe(thread_id)
                renamed = await via_a.patch(
                    f"/api/threads/{thread_id}", json={"title": "after"}, headers=alice
                )
                assert renamed.status_code == 200, renamed.text
                told = await bob_on_b.next_of("thread", within=20)
                assert (told["thread_id"], told["title"]) == (thread_id, "after")
            for client, headers in ((via_b, bob), (via_a, alice)):
                boot = await client.get("/api/v1/server", headers=headers)
                titles = {t["thread_id"]: t["title"] for t in boot.json()["threads"]}
                assert titles[thread_id] == "after"

            async def both_published() -> bool:
                return len(await read_whole_topic(kafka_options(shared), topic)) >= 2

            await eventually(both_published, 60, "the core's relay did not publish the rename")
            # A moment for a duplicate to show up, if the relay were to publish one.
            await trio.sleep(2)
            values = [json.loads(v) for v in await read_whole_topic(kafka_options(shared), topic)]
    finally:
        for proc in reversed(procs):
            proc.stop()
    renames = [v for v in values if v["type"] == "thread.renamed"]
    assert [(v["thread_id"], v["title"], v["actor_id"]) for v in renames] == [
        (thread_id, "after", "alice")
    ]
    assert [v["type"] for v in values] == ["thread.created", "thread.renamed"]
