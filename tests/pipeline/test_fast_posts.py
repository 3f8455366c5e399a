"""REST posting on the fast listener's port (gateway.fast_posts), against the real gateway.

What the refusal corpus (test_rest_refusals, run on both ports) does not cover: the same
answer as the HTTP port byte for byte, keep-alive with every post stored once, pipelining,
`Expect: 100-continue`, malformed requests, paths this port does not serve, WebSockets on the
same port still working, and the drain closing kept-alive connections.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymongo
import pytest
import trio

from config.settings import Settings
from tests.support.server import ParleyProcess, isolated_settings
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "content-type": "application/json"}


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParleyProcess]:
    log_dir = tmp_path_factory.mktemp("fast-posts")
    proc = ParleyProcess(isolated_settings(settings), "all", log_dir=log_dir).start()
    try:
        yield proc
    finally:
        proc.stop()


def _new_thread(server: ParleyProcess, token: str) -> str:
    made = httpx.post(
        f"{server.http_url}/api/threads",
        json={"title": "fast", "members": ["bob"]},
        headers=_auth(token),
        timeout=30,
    )
    assert made.status_code == 201, made.text
    thread_id: str = made.json()["thread_id"]
    return thread_id


def _stored_texts(server: ParleyProcess, thread_id: str) -> list[str]:
    uri = server.settings.mongo_uri
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db = client.get_database(uri.rsplit("/", 1)[1])
        return [d["text"] for d in db["messages"].find({"thread_id": thread_id})]


def _wait_stored(server: ParleyProcess, thread_id: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    texts = _stored_texts(server, thread_id)
    while len(texts) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        texts = _stored_texts(server, thread_id)
    return texts


def _exchange(port: int, raw: bytes, *, read_until_close: bool = True) -> bytes:
    """Send raw bytes, read what comes back until the server closes (or 10 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            got += chunk
            if not read_until_close and got.count(b"HTTP/1.1 ") >= 2:
                break
        return got


def _post_bytes(path: str, token: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_same_answers_as_the_http_port(server: ParleyProcess, tokens: dict[str, str]) -> None:
    thread_id = _new_thread(server, tokens["alice"])
    cases = [
        ({"thread_id": thread_id, "text": "x", "extra": 1}, tokens["alice"]),
        ({"thread_id": thread_id}, tokens["alice"]),
        ({"thread_id": thread_id, "text": "x"}, tokens["carol"]),
        ({"thread_id": thread_id, "text": "x"}, "not-a-token"),
    ]
    for body, token in cases:
        answers = [
            httpx.post(f"{base}/api/messages", json=body, headers=_auth(token), timeout=30)
            for base in (server.http_url, server.fast_url)
        ]
        via_http, via_fast = answers
        assert via_fast.status_code == via_http.status_code >= 400
        assert via_fast.content == via_http.content
        for name in ("content-type", "content-length", "connection", "retry-after"):
            assert via_fast.headers.get(name) == via_http.headers.get(name), name
    accepted = httpx.post(
        f"{server.fast_url}/api/threads/{thread_id}/messages",
        json={"text": "on the path"},
        headers=_auth(tokens["alice"]),
        timeout=30,
    )
    assert accepted.status_code == 202
    assert set(accepted.json()) == {"message_id", "thread_id", "accepted_at"}
    assert accepted.json()["thread_id"] == thread_id
    assert "connection" not in accepted.headers


def test_kept_alive_posts_are_each_stored_once(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    thread_id = _new_thread(server, tokens["alice"])
    texts = [f"kept alive {i}" for i in range(40)]
    ports: set[int] = set()
    with httpx.Client(base_url=server.fast_url, timeout=30) as http:
        for text in texts:
            answer = http.post(
                "/api/messages",
                json={"thread_id": thread_id, "text": text},
                headers=_auth(tokens["alice"]),
            )
            assert answer.status_code == 202, answer.text
            stream = answer.extensions["network_stream"]
            ports.add(stream.get_extra_info("client_addr")[1])
    assert len(ports) == 1, "every post went over the one kept-alive connection"
    stored = _wait_stored(server, thread_id, len(texts))
    assert sorted(stored) == sorted(texts)


def test_pipelined_and_expect_continue(server: ParleyProcess, tokens: dict[str, str]) -> None:
    thread_id = _new_thread(server, tokens["alice"])
    port = server.settings.ws_port
    one = json.dumps({"thread_id": thread_id, "text": "pipelined 1"}).encode()
    two = json.dumps({"text": "pipelined 2"}).encode()
    raw = _post_bytes("/api/messages", tokens["alice"], one) + _post_bytes(
        f"/api/threads/{thread_id}/messages", tokens["alice"], two, "Connection: close\r\n"
    )
    got = _exchange(port, raw)
    assert got.count(b"HTTP/1.1 202 Accepted\r\n") == 2, got
    body = json.dumps({"thread_id": thread_id, "text": "after 100-continue"}).encode()
    head = _post_bytes("/api/messages", tokens["alice"], b"", "Expect: 100-continue\r\n")
    head = head.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        sock.sendall(body)
        final = sock.recv(65536)
        assert final.startswith(b"HTTP/1.1 202 "), final
    stored = _wait_stored(server, thread_id, 3)
    assert sorted(stored) == ["after 100-continue", "pipelined 1", "pipelined 2"]


def test_chunked_bodies_http_1_0_and_oversized_heads(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    thread_id = _new_thread(server, tokens["alice"])
    port = server.settings.ws_port
    body = json.dumps({"thread_id": thread_id, "text": "sent in chunks"}).encode()
    chunked = (
        f"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['alice']}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    half = len(body) // 2
    for part in (body[:half], body[half:]):
        chunked += b"%x\r\n%s\r\n" % (len(part), part)
    chunked += b"0\r\n\r\n"
    assert _exchange(port, chunked).startswith(b"HTTP/1.1 202 ")
    old = json.dumps({"thread_id": thread_id, "text": "over HTTP/1.0"}).encode()
    answer = _exchange(
        port,
        _post_bytes("/api/messages", tokens["alice"], old).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    )
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 202 ") and b"connection: close" in head
    huge = _post_bytes("/api/messages", tokens["alice"], b"{}", f"X-Pad: {'a' * 20_000}\r\n")
    assert _exchange(port, huge).startswith(b"HTTP/1.1 431 ")
    assert sorted(_wait_stored(server, thread_id, 2)) == ["over HTTP/1.0", "sent in chunks"]


def test_what_this_port_does_not_serve(server: ParleyProcess, tokens: dict[str, str]) -> None:
    port = server.settings.ws_port
    other = _exchange(port, _post_bytes("/api/threads", tokens["alice"], b"{}"))
    assert other.startswith(b"HTTP/1.1 404 "), other
    head, _, body = other.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "not_found"
    assert "/api/messages" in error["message"]
    malformed = _exchange(port, b"POST /api/messages HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert malformed.startswith(b"HTTP/1.1 400 "), malformed
    # Not a POST: still the WebSocket handshake's business, which refuses a plain GET.
    plain_get = _exchange(port, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert plain_get.startswith(b"HTTP/1.1 4"), plain_get


async def test_websockets_still_work_on_the_same_port(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    thread_id = await trio.to_thread.run_sync(_new_thread, server, tokens["alice"])
    async with chat_socket(server.ws_url, tokens["alice"]) as sock:
        await sock.subscribe(thread_id)
        posted = await trio.to_thread.run_sync(
            lambda: httpx.post(
                f"{server.fast_url}/api/messages",
                json={"thread_id": thread_id, "text": "seen live"},
                headers=_auth(tokens["alice"]),
                timeout=30,
            )
        )
        assert posted.status_code == 202
        [live] = await sock.messages(thread_id, 1, within=30)
        assert live["text"] == "seen live"
        assert live["message_id"] == posted.json()["message_id"]


def test_drain_closes_kept_alive_connections(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    proc = ParleyProcess(isolated_settings(settings), "all", log_dir=tmp_path).start()
    try:
        thread_id = _new_thread(proc, tokens["alice"])
        body = json.dumps({"thread_id": thread_id, "text": "before the drain"}).encode()
        with socket.create_connection(("127.0.0.1", proc.settings.ws_port), timeout=20) as sock:
            sock.sendall(_post_bytes("/api/messages", tokens["alice"], body))
            assert sock.recv(65536).startswith(b"HTTP/1.1 202 ")
            assert proc.proc is not None
            proc.proc.send_signal(15)
            # The idle kept-alive connection is closed by the server once posts went quiet.
            rest = b""
            while chunk := sock.recv(65536):
                rest += chunk
            assert rest == b""
        assert proc.terminate() == 0
        assert _stored_texts(proc, thread_id) == ["before the drain"]
    finally:
        proc.kill()
