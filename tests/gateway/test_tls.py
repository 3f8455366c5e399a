"""HTTPS and WSS end to end with the dev CA (`parley certs dev`); plain HTTP is refused."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from config.settings import Settings
from infra import Endpoints, fetch_access_token
from parley.certs import DNS_NAMES, make_dev_certs
from tests.support.server import ParleyProcess, isolated_settings
from tests.support.ws import chat_socket


def test_dev_certs_name_localhost_and_parley_local_and_reuse_the_ca(tmp_path: Path) -> None:
    first = make_dev_certs(tmp_path)
    ca_before = first.ca.read_bytes()
    second = make_dev_certs(tmp_path)
    assert second.ca.read_bytes() == ca_before
    cert = x509.load_pem_x509_certificate(second.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == list(DNS_NAMES)
    assert oct(second.key.stat().st_mode & 0o777) == "0o600"
    # A client trusting only the CA accepts the certificate for each name.
    context = ssl.create_default_context(cafile=str(second.ca))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(second.cert, second.key)
    for name in ("localhost", "chat.parley.local", "parley.local"):
        _handshake_in_memory(context, server, name)


def _handshake_in_memory(client: ssl.SSLContext, server: ssl.SSLContext, name: str) -> None:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.version() is not None, name


@pytest.fixture(scope="module")
def tokens(services: Endpoints) -> dict[str, str]:
    return {u: fetch_access_token(services.oidc_issuer, u) for u in ("alice", "bob")}


@pytest.fixture
def tls_server(settings: Settings, tmp_path: Path) -> Iterator[ParleyProcess]:
    certs = make_dev_certs(tmp_path / "certs")
    tls = isolated_settings(settings, tls_cert=str(certs.cert), tls_key=str(certs.key))
    proc = ParleyProcess(tls, "all", log_dir=tmp_path, ca=certs.ca).start()
    try:
        yield proc
    finally:
        proc.stop()


def _plain_http_answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            return sock.recv(1024)
        except (ConnectionResetError, TimeoutError):
            return b""


@pytest.mark.integration
async def test_https_and_wss_chat_end_to_end(
    tls_server: ParleyProcess, tokens: dict[str, str]
) -> None:
    assert tls_server.http_url.startswith("https://")
    assert tls_server.ws_url.startswith("wss://127.0.0.1:")
    context = ssl.create_default_context(cafile=str(tls_server.ca))
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    async with httpx.AsyncClient(
        base_url=tls_server.http_url, verify=context, headers=headers, timeout=10
    ) as http:
        config = (await http.get("/config.js")).text
        match = re.search(r"window\.PARLEY_CONFIG = (\{.*\});", config, re.S)
        assert match is not None
        assert json.loads(match.group(1))["apiUrl"] == tls_server.http_url
        thread = await http.post("/api/threads", json={"title": "tls", "members": ["bob"]})
        assert thread.status_code == 201, thread.text
        thread_id = thread.json()["thread_id"]
        http_ws = tls_server.http_url.replace("https", "wss", 1) + "/ws"
        # Both listeners: the dedicated one and /ws on the HTTPS port.
        async with (
            chat_socket(tls_server.ws_url, tokens["alice"], ssl_context=context) as fast,
            chat_socket(http_ws, tokens["bob"], ssl_context=context) as hyper,
        ):
            await fast.subscribe(thread_id)
            await hyper.subscribe(thread_id)
            posted = await http.post(
                "/api/messages", json={"thread_id": thread_id, "text": "over https"}
            )
            assert posted.status_code == 202, posted.text
            await fast.send(
                {"type": "send", "thread_id": thread_id, "client_msg_id": "c1", "text": "over wss"}
            )
            ack = await fast.next_of("ack")
            assert ack["client_msg_id"] == "c1"
            for sock in (fast, hyper):
                texts = [m["text"] for m in await sock.messages(thread_id, 2)]
                assert sorted(texts) == ["over https", "over wss"]


@pytest.mark.integration
def test_plain_http_is_refused_when_tls_is_on(tls_server: ParleyProcess) -> None:
    ws_port = int(tls_server.ws_url.rsplit(":", 1)[1].split("/")[0])
    for port in (tls_server.settings.http_port, ws_port):
        answer = _plain_http_answer(port)
        assert not answer.startswith(b"HTTP/"), (port, answer[:80])
