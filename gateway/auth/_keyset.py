"""Turn a provider's JWKS document into the verification keys Parley will use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from jwt.exceptions import PyJWKError, PyJWKSetError, PyJWTError

__all__ = ["JwksRejected", "KeyIndex", "build_key_index"]

# (kid, alg) -> key bound to that algorithm. PyJWT verifies with the key's bound algorithm
# and refuses a header alg that differs, so binding per pair keeps the allow-list honest.
KeyIndex = Mapping[tuple[str, str], jwt.PyJWK]

_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
# JWK members that only private keys have; a JWKS publishing them is broken.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class JwksRejected(Exception):
    """Raised when a fetched JWKS is unusable; the previously loaded keys stay in force."""


def _algorithms_for(jwk: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    explicit = jwk.get("alg")
    if isinstance(explicit, str):
        return [explicit] if explicit in allowed else []
    kty = jwk.get("kty")
    if kty == "RSA":
        return [a for a in _RSA_ALGS if a in allowed]
    if kty == "EC":
        alg = _EC_ALG_BY_CURVE.get(str(jwk.get("crv")))
        return [alg] if alg is not None and alg in allowed else []
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ["EdDSA"] if "EdDSA" in allowed else []
    return []


def _usable_for_signatures(jwk: Mapping[str, Any]) -> bool:
    if jwk.get("use", "sig") != "sig":
        return False
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return False
    return not any(member in jwk for member in _PRIVATE_MEMBERS)


def build_key_index(document: object, allowed: frozenset[str]) -> dict[tuple[str, str], jwt.PyJWK]:
    """Parse a JWKS document (with ``jwt.PyJWKSet``) into a (kid, alg) -> key index.

    Keys without a ``kid``, meant for encryption, carrying private members, symmetric, too
    short, or for algorithms outside the allow-list are left out. Raises ``JwksRejected``
    when nothing usable remains, so an empty or garbled answer never replaces good keys.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksRejected("JWKS document has no 'keys' list")
    candidates = [
        k
        for k in document["keys"]
        if isinstance(k, dict)
        and isinstance(k.get("kid"), str)
        and k["kid"]
        and _usable_for_signatures(k)
    ]
    try:
        parsed = jwt.PyJWKSet(candidates)
    except (PyJWKSetError, PyJWKError, TypeError, ValueError, KeyError) as exc:
        # TypeError/ValueError/KeyError: members of the wrong JSON type in a hostile JWKS.
        raise JwksRejected(f"JWKS has no usable signing keys ({type(exc).__name__})") from None
    index: dict[tuple[str, str], jwt.PyJWK] = {}
    for key in parsed:
        if key.Algorithm.check_key_length(key.key) is not None:
            continue  # e.g. RSA below 2048 bits (NIST SP 800-131A)
        data: dict[str, Any] = dict(key._jwk_data)
        kid = str(data["kid"])
        for alg in _algorithms_for(data, allowed):
            if alg == key.algorithm_name:
                index[(kid, alg)] = key
                continue
            try:
                index[(kid, alg)] = jwt.PyJWK(data, algorithm=alg)
            except (PyJWTError, TypeError, ValueError):
                continue
    if not index:
        raise JwksRejected("JWKS has no keys for the allowed algorithms")
    return index
