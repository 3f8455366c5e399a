"""Helpers for the identity tests: signing keys, a token forge, and a tiny JWKS server.

The server is a unit-test stand-in for the provider's discovery and JWKS endpoints (the
real provider is exercised by the integration tests): a few lines of h11 on Trio, bound to
127.0.0.1 port 0, which counts fetches and can rotate keys or fail on demand.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import h11
import trio
from jwt.algorithms import get_default_algorithms

from config.settings import Settings, load_settings

AUDIENCE = "parley"
CLIENT_ID = "parley-web"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        algorithm = get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=self.kid, use="sig", alg=self.alg)
        return jwk


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any],
    payload: dict[str, Any] | bytes,
    key: SigningKey | None = None,
    *,
    signature: bytes | None = None,
) -> str:
    """Any header, any payload, signed with ``key`` using the header's alg (or a given sig)."""
    h = b64(json.dumps(header).encode())
    p = b64(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    if signature is None:
        assert key is not None
        signature = get_default_algorithms()[header["alg"]].sign(f"{h}.{p}".encode(), key.private)
    return f"{h}.{p}.{b64(signature)}"


@dataclass
class TokenFactory:
    issuer: str
    key: SigningKey

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "alice",
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "azp": CLIENT_ID,
            "jti": "j-1",
        }
        for name, value in overrides.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def header(self, key: SigningKey | None = None, **overrides: Any) -> dict[str, Any]:
        key = key or self.key
        header: dict[str, Any] = {"alg": key.alg, "typ": "JWT", "kid": key.kid}
        for name, value in overrides.items():
            if value is DROP:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def make(
        self, key: SigningKey | None = None, *, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        key = key or self.key
        return forge(self.header(key, **(header or {})), self.claims(**claims), key)


DROP = object()  # marks a claim or header parameter to leave out


@dataclass
class JwksServer:
    """Serves discovery and JWKS; ``mode`` is ok | down (503) | reset | hang | garbage."""

    keys: list[SigningKey]
    issuer: str = ""
    mode: str = "ok"
    issuer_in_discovery: str | None = None
    raw_jwks: bytes | None = None  # served verbatim instead of the keys when set
    jwks_fetch_times: list[float] = field(default_factory=list)
    discovery_hits: int = 0

    @property
    def jwks_hits(self) -> int:
        return len(self.jwks_fetch_times)

    @property
    def jwks_url(self) -> str:
        return self.issuer.rsplit("/", 1)[0] + "/keys"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{port}/parley"
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def _route(self, target: str) -> tuple[int, bytes]:
        if target.endswith("/.well-known/openid-configuration"):
            self.discovery_hits += 1
            doc = {
                "issuer": self.issuer_in_discovery or self.issuer,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
            return 200, json.dumps(doc).encode()
        if target.endswith("/keys"):
            self.jwks_fetch_times.append(trio.current_time())
            if self.mode == "down":
                return 503, b'{"error":"unavailable"}'
            if self.raw_jwks is not None:
                return 200, self.raw_jwks
            if self.mode == "garbage":
                return 200, b'{"keys": []}'
            return 200, json.dumps({"keys": [k.public_jwk() for k in self.keys]}).encode()
        return 404, b"{}"

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                    continue
                if isinstance(event, h11.Request):
                    status, body = self._route(event.target.decode())
                    if self.mode == "reset" and status != 404:
                        return
                    if self.mode == "hang" and status != 404:
                        await trio.sleep_forever()
                    headers = [
                        ("content-type", "application/json"),
                        ("content-length", str(len(body))),
                    ]
                    await stream.send_all(
                        conn.send(h11.Response(status_code=status, headers=headers))
                    )
                    await stream.send_all(conn.send(h11.Data(data=body)))
                    await stream.send_all(conn.send(h11.EndOfMessage()))
                elif isinstance(event, h11.EndOfMessage):
                    if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                        conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed) or conn.our_state is h11.MUST_CLOSE:
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()


def settings_for(server: JwksServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "oidc_issuer": server.issuer,
        "oidc_audience": AUDIENCE,
        "oidc_client_id": CLIENT_ID,
        "oidc_algorithms": "RS256,ES256",
        "oidc_jwks_url": "",
        "oidc_ca_bundle": "",
    }
    values.update(overrides)
    return load_settings(**values)
