"""Hostile and mistaken REST input against the real gateway: a clear refusal, nothing stored.

Each case names the status and, for validation errors, the field the answer must name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pymongo
import pytest

from config.settings import Settings
from tests.support.server import ParleyProcess, isolated_settings

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParleyProcess]:
    """One server for the whole module: these tests only read what they wrote themselves."""
    log_dir = tmp_path_factory.mktemp("refusals")
    proc = ParleyProcess(isolated_settings(settings), "all", log_dir=log_dir).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def thread_id(server: ParleyProcess, tokens: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        made = await http.post(
            "/api/threads", json={"title": "t", "members": ["bob"]}, headers=_auth(tokens["alice"])
        )
    assert made.status_code == 201
    value: str = made.json()["thread_id"]
    return value


BODY_CASES: list[tuple[str, str, int, str | None]] = [
    ("nan", '{"thread_id":"%s","text":NaN}', 422, "body"),
    ("infinity", '{"thread_id":"%s","text":"x","n":Infinity}', 422, "body"),
    ("duplicate keys", '{"thread_id":"%s","text":"a","text":"b"}', 422, "text"),
    (
        "deep nesting",
        '{"thread_id":"%s","text":"x","n":' + "[" * 10_000 + "]" * 10_000 + "}",
        422,
        "body",
    ),
    ("huge number", '{"thread_id":"%s","text":"x","n":' + "9" * 5000 + "}", 422, "body"),
    ("lone surrogate", '{"thread_id":"%s","text":"\\ud800"}', 422, "text"),
    ("nul", '{"thread_id":"%s","text":"a\\u0000b"}', 422, "text"),
    ("server-owned sender_id", '{"thread_id":"%s","text":"x","sender_id":"bob"}', 422, "sender_id"),
    ("server-owned seq", '{"thread_id":"%s","text":"x","seq":1}', 422, "seq"),
    (
        "server-owned created_at",
        '{"thread_id":"%s","text":"x","created_at":"2020"}',
        422,
        "created_at",
    ),
    ("operator key", '{"thread_id":"%s","text":"x","$ne":null}', 422, "$ne"),
    ("dotted key", '{"thread_id":"%s","text":"x","a.b":1}', 422, "a.b"),
    ("operator as value", '{"thread_id":{"$ne":null},"text":"x"}', 422, "thread_id"),
    ("text not a string", '{"thread_id":"%s","text":5}', 422, "text"),
    ("missing text", '{"thread_id":"%s"}', 422, "text"),
    ("empty text", '{"thread_id":"%s","text":"   "}', 422, "text"),
    ("not json", "{nope", 422, "body"),
    ("array body", '["%s"]', 422, "body"),
    ("text over 16 KB", '{"thread_id":"%s","text":"' + "x" * 16_385 + '"}', 413, "text"),
    (
        "body over the limit",
        '{"thread_id":"%s","text":"x","pad":"' + "y" * 70_000 + '"}',
        413,
        None,
    ),
]


# The posting routes are answered on the HTTP port and on the fast listener's port alike.
PORTS = ["http", "fast"]


def _posting_url(server: ParleyProcess, port: str) -> str:
    return server.http_url if port == "http" else server.fast_url


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize(
    ("case", "body", "status", "field"), BODY_CASES, ids=[c[0] for c in BODY_CASES]
)
async def test_bad_message_bodies_are_refused_and_nothing_is_stored(
    server: ParleyProcess,
    tokens: dict[str, str],
    thread_id: str,
    case: str,
    body: str,
    status: int,
    field: str | None,
    port: str,
) -> None:
    raw = body.replace("%s", thread_id) if "%s" in body else body
    async with httpx.AsyncClient(base_url=_posting_url(server, port), timeout=30) as http:
        answer = await http.post("/api/messages", content=raw, headers=_auth(tokens["alice"]))
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field
    assert _stored_count(server, thread_id) == 0


def _stored_count(server: ParleyProcess, thread_id: str) -> int:
    uri = server.settings.mongo_uri
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db = client.get_database(uri.rsplit("/", 1)[1])
        return db["messages"].count_documents({"thread_id": thread_id})


@pytest.mark.parametrize("port", PORTS)
async def test_posting_authorisation_refusals(
    server: ParleyProcess, tokens: dict[str, str], thread_id: str, port: str
) -> None:
    async with httpx.AsyncClient(base_url=_posting_url(server, port), timeout=30) as http:
        body = {"thread_id": thread_id, "text": "hello"}
        no_token = await http.post("/api/messages", json=body)
        assert no_token.status_code == 401
        assert no_token.json()["error"]["code"] == "missing_token"
        forged = await http.post(
            "/api/messages", json=body, headers=_auth(tokens["alice"][:-4] + "AAAA")
        )
        assert forged.status_code == 401
        outsider = await http.post("/api/messages", json=body, headers=_auth(tokens["carol"]))
        assert outsider.status_code == 403
        assert outsider.json()["error"]["field"] == "thread_id"
        on_path = await http.post(
            f"/api/threads/{thread_id}/messages", json={"text": "x"}, headers=_auth(tokens["carol"])
        )
        assert on_path.status_code == 403
        unknown = await http.post(
            "/api/messages",
            json={"thread_id": "t_doesnotexist", "text": "x"},
            headers=_auth(tokens["alice"]),
        )
        assert unknown.status_code == 404
    assert _stored_count(server, thread_id) == 0


async def test_authorisation_refusals(
    server: ParleyProcess, tokens: dict[str, str], thread_id: str
) -> None:
    # The posting refusals are test_posting_authorisation_refusals (on both ports).
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        history = await http.get(
            f"/api/threads/{thread_id}/messages", headers=_auth(tokens["carol"])
        )
        assert history.status_code == 403
        # Only the creator manages members.
        by_bob = await http.post(
            f"/api/threads/{thread_id}/members",
            json={"user_id": "carol"},
            headers=_auth(tokens["bob"]),
        )
        assert by_bob.status_code == 403
    assert _stored_count(server, thread_id) == 0


@pytest.mark.parametrize("port", PORTS)
async def test_client_msg_id_retry_and_conflict(
    server: ParleyProcess, tokens: dict[str, str], thread_id: str, port: str
) -> None:
    async with httpx.AsyncClient(base_url=_posting_url(server, port), timeout=30) as http:
        body = {"thread_id": thread_id, "text": "once", "client_msg_id": f"retry-{port}"}
        first = await http.post("/api/messages", json=body, headers=_auth(tokens["alice"]))
        again = await http.post("/api/messages", json=body, headers=_auth(tokens["alice"]))
        assert first.status_code == again.status_code == 202
        assert first.json()["message_id"] == again.json()["message_id"]
        changed = await http.post(
            "/api/messages", json={**body, "text": "changed"}, headers=_auth(tokens["alice"])
        )
        assert changed.status_code == 409
        assert changed.json()["error"]["field"] == "client_msg_id"
        # Another user's identical client_msg_id names a different message.
        bobs = await http.post("/api/messages", json=body, headers=_auth(tokens["bob"]))
        assert bobs.status_code == 202
        assert bobs.json()["message_id"] != first.json()["message_id"]


async def test_removed_member_can_no_longer_post_and_tokens_never_reach_the_log(
    server: ParleyProcess, tokens: dict[str, str], thread_id: str
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        body = {"thread_id": thread_id, "text": "hi"}
        assert (
            await http.post("/api/messages", json=body, headers=_auth(tokens["bob"]))
        ).status_code == 202
        removed = await http.delete(
            f"/api/threads/{thread_id}/members/bob", headers=_auth(tokens["alice"])
        )
        assert removed.status_code == 200
        assert removed.json()["members"] == ["alice"]
        after = await http.post("/api/messages", json=body, headers=_auth(tokens["bob"]))
        assert after.status_code == 403
        # The compatibility ?token= parameter works and is never logged.
        listed = await http.get("/api/threads", params={"token": tokens["alice"]})
        assert listed.status_code == 200
    log = server.log_path.read_text(errors="replace")
    for token in tokens.values():
        for part in token.split("."):
            assert part[:24] not in log
