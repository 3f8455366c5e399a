"""Static membership, proven: a core restarted within the session timeout keeps its partitions.
The other core sees no rebalance at all, the restarted one gets exactly its partitions back, and
every message accepted meanwhile is stored once (none lost, none doubled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import Settings
from tests.ops.conftest import ops_settings
from tests.ops.test_operations_api import _processes, _wait_for
from tests.support.server import ParleyProcess

pytestmark = pytest.mark.integration


def _core(shared: Settings, tmp_path: Path, name: str, instance: str) -> ParleyProcess:
    settings = shared.model_copy(update={"group_instance_id": instance})
    return ParleyProcess(settings, "core", log_dir=tmp_path, name=name)


def test_a_static_core_restarted_in_time_keeps_its_partitions(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    shared = ops_settings(settings).model_copy(update={"kafka_session_timeout_ms": 20_000})
    tag = shared.core_group
    gateway = ParleyProcess(shared, "gateway", log_dir=tmp_path).start()
    c1 = _core(shared, tmp_path, "c1", f"{tag}-c1").start()
    c2 = _core(shared, tmp_path, "c2", f"{tag}-c2").start()
    user = {"Authorization": f"Bearer {tokens['alice']}"}
    accepted: set[str] = set()
    try:
        with httpx.Client(base_url=gateway.http_url, timeout=30) as http:

            def split() -> dict[str, Any] | None:
                rows = _processes(http, tokens["admin"])
                ids = [c.settings.gateway_id for c in (c1, c2)]
                owned = [rows.get(i, {}).get("partitions", {}) for i in ids]
                counts = [len(o.get("commands", [])) for o in owned]
                both = counts[0] > 0 and counts[1] > 0
                return rows if both and sum(counts) == shared.topic_partitions else None

            before = _wait_for("both cores own partitions", split)
            c1_partitions = before[c1.settings.gateway_id]["partitions"]["commands"]
            c2_row = before[c2.settings.gateway_id]
            threads = [
                http.post("/api/threads", json={"title": f"t{n}", "members": []}, headers=user)
                .json()["thread_id"]
                for n in range(6)
            ]

            def post(n: int) -> None:
                answer = http.post(
                    "/api/messages",
                    json={"thread_id": threads[n % len(threads)], "text": f"m{n}"},
                    headers=user,
                )
                assert answer.status_code == 202, answer.text
                accepted.add(answer.json()["message_id"])

            for n in range(30):
                post(n)
            assert c1.terminate() == 0
            for n in range(30, 60):
                post(n)
            c1 = _core(shared, tmp_path, "c1b", f"{tag}-c1").start()
            for n in range(60, 90):
                post(n)

            after = _wait_for(
                "the restarted core announced its partitions",
                lambda: (rows := _processes(http, tokens["admin"]))
                .get(c1.settings.gateway_id, {})
                .get("partitions", {})
                .get("commands")
                and rows,
            )
            assert after[c1.settings.gateway_id]["partitions"]["commands"] == c1_partitions
            c2_now = after[c2.settings.gateway_id]
            assert c2_now["partitions"] == c2_row["partitions"]
            # Not one assignment change at the survivor since the split settled.
            assert c2_now["stats"]["rebalances"] == c2_row["stats"]["rebalances"]

            def stored() -> list[str] | None:
                ids: list[str] = []
                for thread_id in threads:
                    page = http.get(
                        f"/api/threads/{thread_id}/messages",
                        params={"after_seq": 0, "limit": 100},
                        headers=user,
                    ).json()
                    ids += [m["message_id"] for m in page["messages"]]
                return ids if set(ids) >= accepted else None

            ids = _wait_for("every accepted message stored", stored)
            assert len(ids) == len(set(ids)) == len(accepted)
            assert "revoked" not in c2.tail(400)
    finally:
        for proc in (c1, c2):
            proc.kill()
        gateway.stop()

