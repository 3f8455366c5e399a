"""The JWT attack corpus of the reliability notes, built from one genuine access token.

Reusable by gateway-level tests (REST: 401, WebSocket: close 1008)::

    from tests.gateway.auth.jwt_attacks import attack_tokens
    for attack in attack_tokens(real_token, public_jwk=provider_key):
        ...  # expect attack.status / attack.close_code, and no token fragment in any log

Every attack here must be refused whatever the provider: header and shape attacks are
derived from the genuine token, claim attacks are re-signed with an attacker's key under the
provider's ``kid`` (the attacker has no provider key, so they must fail as well).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ["Attack", "attack_tokens", "token_fragments"]


@dataclass(frozen=True)
class Attack:
    name: str
    token: str
    refusal: str  # the gateway.auth class that must refuse it
    status: int = 401
    close_code: int = 1008


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _encode(obj: Any) -> str:
    return _b64(json.dumps(obj).encode())


def token_fragments(token: str, width: int = 10) -> list[str]:
    """Overlapping slices of each long segment: none may appear in any log line."""
    out: list[str] = []
    for segment in token.split("."):
        if len(segment) >= width:
            out += [segment[i : i + width] for i in range(0, len(segment) - width + 1, width // 2)]
    return out


def attack_tokens(genuine: str, *, public_pem: bytes | None = None) -> list[Attack]:
    """All attacks derived from ``genuine`` (a valid access token of the provider).

    ``public_pem``: the provider's public key (PEM) for the "HS256 signed with the public key"
    attack; a stand-in key is used when not given (the refusal is the same).
    """
    head_b64, body_b64, sig_b64 = genuine.split(".")
    header: dict[str, Any] = _unb64(head_b64)
    claims: dict[str, Any] = _unb64(body_b64)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(RSAAlgorithm.to_jwk(attacker.public_key()))
    now = int(time.time())

    def with_header(**changes: Any) -> str:
        return f"{_encode({**header, **changes})}.{body_b64}.{sig_b64}"

    def resigned(head: dict[str, Any], body: dict[str, Any]) -> str:
        signing_input = f"{_encode(head)}.{_encode(body)}"
        signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input.encode(), attacker)
        return f"{signing_input}.{_b64(signature)}"

    def claims_with(**changes: Any) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return resigned({**header, "alg": "RS256"}, body)

    # Without the provider's key a stand-in is used: the refusal is the same.
    pem = public_pem or attacker.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = f"{_encode({**header, 'alg': 'HS256'})}.{body_b64}"
    hs_sig = hmac.new(pem, hs_input.encode(), hashlib.sha256).digest()
    issuer = str(claims.get("iss", ""))

    attacks = [
        Attack(
            "alg none, empty signature",
            f"{_encode({**header, 'alg': 'none'})}.{body_b64}.",
            "MalformedToken",
        ),
        Attack("alg none with signature", with_header(alg="none"), "UnsafeTokenHeader"),
        Attack("alg None", with_header(alg="None"), "UnsafeTokenHeader"),
        Attack("alg NONE", with_header(alg="NONE"), "UnsafeTokenHeader"),
        Attack(
            "HS256 signed with the public key", f"{hs_input}.{_b64(hs_sig)}", "UnsafeTokenHeader"
        ),
        Attack("random kid", with_header(kid=secrets.token_urlsafe(12)), "UnknownSigningKey"),
        Attack("kid path", with_header(kid="../../../../etc/passwd"), "UnsafeTokenHeader"),
        Attack("kid absolute path", with_header(kid="/dev/null"), "UnsafeTokenHeader"),
        Attack("kid 10 KB", with_header(kid="k" * 10_240), "MalformedToken"),
        Attack("kid number", with_header(kid=1), "UnsafeTokenHeader"),
        Attack("kid null", with_header(kid=None), "UnsafeTokenHeader"),
        Attack("kid list", with_header(kid=[header.get("kid")]), "UnsafeTokenHeader"),
        Attack(
            "jwk header", resigned({**header, "jwk": attacker_jwk}, claims), "UnsafeTokenHeader"
        ),
        Attack(
            "jku header",
            resigned({**header, "jku": "http://127.0.0.1:1/jwks"}, claims),
            "UnsafeTokenHeader",
        ),
        Attack(
            "x5u header",
            resigned({**header, "x5u": "http://127.0.0.1:1/c.pem"}, claims),
            "UnsafeTokenHeader",
        ),
        Attack("x5c header", resigned({**header, "x5c": ["MIIB"]}, claims), "UnsafeTokenHeader"),
        Attack("unknown crit", with_header(crit=["exp"]), "UnsafeTokenHeader"),
        Attack("missing exp", claims_with(exp=None), "BadSignature"),
        Attack(
            "expired", claims_with(exp=now - 3600, iat=now - 7200, nbf=now - 7200), "BadSignature"
        ),
        Attack("future nbf", claims_with(nbf=now + 3600), "BadSignature"),
        Attack("future iat", claims_with(iat=now + 3600), "BadSignature"),
        Attack("missing aud", claims_with(aud=None), "BadSignature"),
        Attack("wrong aud", claims_with(aud="someone-else"), "BadSignature"),
        Attack("multi-valued aud without ours", claims_with(aud=["a", "b"]), "BadSignature"),
        Attack("issuer prefix", claims_with(iss=issuer[:-1]), "BadSignature"),
        Attack("issuer suffix", claims_with(iss=issuer + "x"), "BadSignature"),
        Attack("ID token claims", claims_with(at_hash="AAAA", nonce="n"), "BadSignature"),
        Attack("two segments", f"{head_b64}.{body_b64}", "MalformedToken"),
        Attack("four segments", f"{genuine}.{sig_b64}", "MalformedToken"),
        Attack("bad base64", f"{head_b64}.{body_b64}!.{sig_b64}", "MalformedToken"),
        Attack(
            "1 MB header",
            f"{_encode({**header, 'pad': 'x' * 1_000_000})}.{body_b64}.{sig_b64}",
            "MalformedToken",
        ),
        Attack(
            "tampered payload",
            f"{head_b64}.{_encode({**claims, 'sub': 'mallory'})}.{sig_b64}",
            "BadSignature",
        ),
        Attack(
            "nested JSON header",
            f"{_b64(b'[' * 1500 + b']' * 1500)}.{body_b64}.{sig_b64}",
            "MalformedToken",
        ),
    ]
    return attacks
