"""Two gateways and two cores as separate processes share the work through Kafka."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from config.settings import Settings
from tests.support.server import ParleyProcess, isolated_settings
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


async def test_message_on_gateway_a_reaches_gateway_b_in_one_order(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    shared = isolated_settings(settings)
    procs = [
        ParleyProcess(shared, "core", log_dir=tmp_path, name="core-1"),
        ParleyProcess(shared, "core", log_dir=tmp_path, name="core-2"),
        ParleyProcess(shared, "gateway", log_dir=tmp_path, name="gateway-a"),
        ParleyProcess(shared, "gateway", log_dir=tmp_path, name="gateway-b"),
    ]
    try:
        for proc in procs:
            await trio.to_thread.run_sync(proc.start)
        core_1, core_2, gw_a, gw_b = procs
        auth = {"Authorization": f"Bearer {tokens['alice']}"}
        async with (
            httpx.AsyncClient(base_url=gw_a.http_url, timeout=10) as via_a,
            httpx.AsyncClient(base_url=gw_b.http_url, timeout=10) as via_b,
        ):
            threads = []
            for _ in range(4):  # several threads, so both cores own some of them
                made = await via_a.post(
                    "/api/threads", json={"title": "x", "members": ["bob"]}, headers=auth
                )
                assert made.status_code == 201, made.text
                threads.append(made.json()["thread_id"])
            async with (
                chat_socket(gw_a.ws_url, tokens["alice"]) as alice,
                chat_socket(gw_b.ws_url, tokens["bob"]) as bob,
            ):
                for thread in threads:
                    await alice.subscribe(thread)
                    await bob.subscribe(thread)
                for i in range(10):
                    for n, thread in enumerate(threads):
                        client = via_a if (i + n) % 2 == 0 else via_b
                        answer = await client.post(
                            "/api/messages",
                            json={"thread_id": thread, "text": f"m{i}"},
                            headers=auth,
                        )
                        assert answer.status_code == 202, answer.text
                for thread in threads:
                    seen_by_alice = await alice.messages(thread, 10)
                    seen_by_bob = await bob.messages(thread, 10)
                    assert [m["seq"] for m in seen_by_alice] == list(range(1, 11))
                    assert [m["text"] for m in seen_by_alice] == [f"m{i}" for i in range(10)]
                    # The same order for every client, in arrival order as well as by seq.
                    arrival_a = [m["message_id"] for m in alice.raw_messages(thread)]
                    arrival_b = [m["message_id"] for m in bob.raw_messages(thread)]
                    assert arrival_a == arrival_b == [m["message_id"] for m in seen_by_bob]
        persisted = []
        for core in (core_1, core_2):
            async with httpx.AsyncClient(timeout=5) as http:
                metrics = (await http.get(f"{core.http_url}/metrics")).text
            line = next(
                x for x in metrics.splitlines() if x.startswith("parley_messages_persisted_total")
            )
            persisted.append(float(line.split()[-1]))
        assert sum(persisted) == 40
    finally:
        for proc in reversed(procs):
            proc.stop()
