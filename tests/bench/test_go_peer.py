"""The same-guarantee Go peer (bench/peers/chat_go) on the real services: tokens from the
provider are required, a post is answered 202, stored once under its message_id and reaches
the thread's subscribers. No timing is asserted."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pymongo
import pytest

from bench._gopeer import GoPeerTarget
from bench._procs import run_generator

if TYPE_CHECKING:
    from infra import Endpoints

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("go") is None, reason="`go` not installed"),
]


@pytest.fixture(scope="module")
def peer(services: Endpoints) -> Iterator[GoPeerTarget]:
    ends = (services.kafka_bootstrap, services.mongo_uri, services.oidc_issuer)
    with GoPeerTarget(ends, users=2) as target:
        yield target


def _post(peer: GoPeerTarget, body: dict[str, str], token: str) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{peer.http['port']}/api/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def test_a_token_the_provider_did_not_sign_is_refused(peer: GoPeerTarget) -> None:
    forged = "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.eyJzdWIiOiJ4In0.c2ln"
    resp = _post(peer, {"thread_id": "t-1", "text": "hi"}, forged)
    assert resp.status_code == 401


def test_an_invalid_body_is_refused(peer: GoPeerTarget) -> None:
    resp = _post(peer, {"thread_id": "", "text": "hi"}, peer.tokens(1)[0])
    assert resp.status_code == 422


def test_a_post_is_stored_once_and_delivered(peer: GoPeerTarget) -> None:
    thread = f"t-{uuid.uuid4().hex[:8]}"
    resp = _post(
        peer, {"thread_id": thread, "text": "hello", "client_msg_id": "c1"}, peer.tokens(1)[0]
    )
    assert resp.status_code == 202
    message_id = resp.json()["message_id"]
    # Subscribers of the thread get every message: the generator's end-to-end job checks it.
    result = run_generator(
        {
            "kind": "e2e",
            "ws": peer.ws,
            "http": peer.http,
            "clients": 4,
            "thread_ids": [thread],
            "rate": 20.0,
            "duration": 0.5,
            "run_id": f"g{uuid.uuid4().hex[:6]}",
            "tokens": peer.tokens(2),
            "connections": 2,
            "drain_s": 10.0,
        },
        timeout_s=120,
        prefer="python",
    )
    assert result["accepted"] == result["sent"] == 10
    assert result["deliveries"] == result["expected"] == 40
    with pymongo.MongoClient(peer.mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        messages = client.get_default_database()["messages"]
        stored = list(messages.find({"message_id": message_id}))
        assert len(stored) == 1
        assert stored[0]["thread_id"] == thread and stored[0]["text"] == "hello"
        assert messages.count_documents({"thread_id": thread}) == 11
