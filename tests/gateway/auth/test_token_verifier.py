"""Every JWT attack from the reliability notes, each with the refusal it must get.

Runs against a local JWKS server (discovery + keys over real HTTP on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from _auth_support import (
    AUDIENCE,
    CLIENT_ID,
    DROP,
    JwksServer,
    SigningKey,
    TokenFactory,
    b64,
    forge,
    settings_for,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt_attacks import attack_tokens

from config.errors import ConfigurationError
from config.settings import load_settings
from gateway.auth import Principal, TokenVerifier, allowed_algorithms
from protocol.refusals import (
    BadSignature,
    ClaimRejected,
    ExpiredToken,
    InvalidToken,
    MalformedToken,
    UnknownSigningKey,
    UnsafeTokenHeader,
    WrongTokenType,
)

NOW = int(time.time())


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    # Tests build tokens relative to NOW; the module is imported at collection, which can be
    # many minutes before a test runs in the full suite, so take the time per test.
    global NOW
    NOW = int(time.time())


async def test_valid_rsa_token_gives_principal(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    exp = NOW + 600
    principal = await verifier.verify(tokens.make(exp=exp))
    assert isinstance(principal, Principal)
    assert principal.user_id == "alice"
    assert principal.expires_at == float(exp)
    assert principal.claims["azp"] == CLIENT_ID
    with pytest.raises(
        TypeError, match=r"^'mappingproxy' object does not support item assignment$"
    ):
        principal.claims["sub"] = "mallory"  # type: ignore[index]


async def test_valid_ec_token(
    verifier: TokenVerifier, tokens: TokenFactory, ec_key: SigningKey
) -> None:
    assert (await verifier.verify(tokens.make(ec_key, sub="bob"))).user_id == "bob"


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "application/at+jwt", DROP])
async def test_access_token_types_accepted(
    verifier: TokenVerifier, tokens: TokenFactory, typ: object
) -> None:
    assert (await verifier.verify(tokens.make(header={"typ": typ}))).user_id == "alice"


async def test_multi_valued_aud_containing_ours_is_accepted(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    # RFC 7519 4.1.3: a recipient accepts when it identifies itself with one of the values.
    principal = await verifier.verify(tokens.make(aud=["other-api", AUDIENCE]))
    assert principal.claims["aud"] == ["other-api", AUDIENCE]


async def test_small_clock_skew_is_tolerated(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    principal = await verifier.verify(tokens.make(iat=NOW + 10, nbf=NOW + 10, exp=NOW - 10 + 300))
    assert principal.user_id == "alice"


# --- alg ----------------------------------------------------------------------------------


async def test_alg_none_with_empty_signature(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    token = forge(tokens.header(alg="none"), tokens.claims(), signature=b"")
    assert token.endswith(".")
    with pytest.raises(MalformedToken, match=r"^token is not three non-empty base64url segments$"):
        await verifier.verify(token)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_spellings(verifier: TokenVerifier, tokens: TokenFactory, alg: str) -> None:
    token = forge(tokens.header(alg=alg), tokens.claims(), signature=b"sig")
    with pytest.raises(UnsafeTokenHeader, match=r"^unsigned tokens \(alg none\) are not accepted$"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_providers_public_key(
    verifier: TokenVerifier, tokens: TokenFactory, rsa_key: SigningKey
) -> None:
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, payload = (
        b64(b'{"alg":"HS256","typ":"JWT","kid":"key-a"}'),
        b64(json.dumps(tokens.claims()).encode()),
    )
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(
        UnsafeTokenHeader, match=r"^shared-secret algorithms \(HS\*\) are not accepted$"
    ):
        await verifier.verify(f"{header}.{payload}.{b64(mac)}")


async def test_algorithm_outside_allow_list(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    rs512 = SigningKey("key-a", "RS512", tokens.key.private)
    with pytest.raises(
        UnsafeTokenHeader, match=r"^token algorithm is not one of the allowed \(ES256, RS256\)$"
    ):
        await verifier.verify(tokens.make(rs512))


async def test_algorithm_that_does_not_match_the_key(
    verifier: TokenVerifier, tokens: TokenFactory, ec_key: SigningKey
) -> None:
    # An EC-signed token claiming the RSA key's kid: the (kid, alg) pair is not published.
    token = forge(tokens.header(ec_key, kid="key-a"), tokens.claims(), ec_key)
    with pytest.raises(
        UnsafeTokenHeader, match=r"^token algorithm does not match its signing key$"
    ):
        await verifier.verify(token)


def test_configuring_unsafe_algorithms_is_refused() -> None:
    for algs in ("RS256,HS256", "none", "hs512"):
        with pytest.raises(
            ConfigurationError,
            match=r"^PARLEY_OIDC_ALGORITHMS may not contain 'none' or HS\* algorithms "
            r"\(anyone holding the provider's public key could forge tokens\)$",
        ):
            allowed_algorithms(load_settings(oidc_algorithms=algs))
    with pytest.raises(
        ConfigurationError,
        match=r"^PARLEY_OIDC_ALGORITHMS must list algorithms among ES256, ES384, ES512, EdDSA, "
        r"PS256, PS384, PS512, RS256, RS384, RS512$",
    ):
        allowed_algorithms(load_settings(oidc_algorithms="RS257"))


# --- kid ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["../../etc/passwd", "/etc/passwd", "..\\keys", "key a", "kéy", ""])
async def test_kid_shaped_like_a_path_or_junk(
    verifier: TokenVerifier, tokens: TokenFactory, kid: str
) -> None:
    with pytest.raises(
        UnsafeTokenHeader, match=r"^token key id \(kid\) has characters a key id never has$"
    ):
        await verifier.verify(tokens.make(header={"kid": kid}))


async def test_kid_of_10_kb(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(MalformedToken, match=r"^token is longer than 8192 bytes$"):
        await verifier.verify(tokens.make(header={"kid": "k" * 10_240}))


async def test_long_kid_within_token_cap(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(
        UnsafeTokenHeader, match=r"^token key id \(kid\) is longer than 128 characters$"
    ):
        await verifier.verify(tokens.make(header={"kid": "k" * 500}))


@pytest.mark.parametrize("kid", [123, None, ["key-a"], {"k": 1}, True])
async def test_kid_not_a_string(verifier: TokenVerifier, tokens: TokenFactory, kid: object) -> None:
    with pytest.raises(
        UnsafeTokenHeader,
        match=r"^token (key id \(kid\) is not a string|header has no key id \(kid\))$",
    ):
        await verifier.verify(tokens.make(header={"kid": kid}))


async def test_missing_kid(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(UnsafeTokenHeader, match=r"^token header has no key id \(kid\)$"):
        await verifier.verify(tokens.make(header={"kid": DROP}))


async def test_unknown_kid(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(tokens.make(header={"kid": "no-such-key"}))


# --- keys offered by the token itself -----------------------------------------------------


@pytest.mark.parametrize("param", ["jwk", "jku", "x5u", "x5c"])
async def test_header_offering_its_own_key(
    verifier: TokenVerifier, tokens: TokenFactory, param: str
) -> None:
    attacker = SigningKey(
        "key-a", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    offered: dict[str, Any] = {
        "jwk": attacker.public_jwk(),
        "jku": "http://evil.example/jwks.json",
        "x5u": "http://evil.example/cert.pem",
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    token = forge({**tokens.header(), param: offered[param]}, tokens.claims(), attacker)
    with pytest.raises(
        UnsafeTokenHeader,
        match=r"^token header offers its own key \(jwk/jku/x5u/x5c\), which is never trusted$",
    ):
        await verifier.verify(token)


async def test_key_not_from_the_provider_fails_signature(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    attacker = SigningKey(
        "key-a", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    with pytest.raises(BadSignature, match=r"^token signature does not verify$"):
        await verifier.verify(tokens.make(attacker))


async def test_tampered_payload_fails_signature(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    header, _, signature = tokens.make().split(".")
    payload = b64(json.dumps(tokens.claims(sub="mallory")).encode())
    with pytest.raises(BadSignature, match=r"^token signature does not verify$"):
        await verifier.verify(f"{header}.{payload}.{signature}")


# --- crit, typ, b64 -----------------------------------------------------------------------


@pytest.mark.parametrize("crit", [["exp"], ["http://example.com/ext"], [], "exp"])
async def test_unknown_crit(verifier: TokenVerifier, tokens: TokenFactory, crit: object) -> None:
    with pytest.raises(
        UnsafeTokenHeader, match=r"^token header declares critical extensions \(crit\)$"
    ):
        await verifier.verify(tokens.make(header={"crit": crit, "exp": 1}))


async def test_unencoded_payload_option(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(UnsafeTokenHeader, match=r"^unencoded payloads \(b64\) are not accepted$"):
        await verifier.verify(tokens.make(header={"b64": False}))


# --- shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: ".".join(t.split(".")[:2]),  # 2 segments
        lambda t: t + ".c2lnbmF0dXJl",  # 4 segments
        lambda t: t.replace(".", "..", 1),  # empty segment
        lambda t: "!!!" + t,  # not base64url
        lambda t: t.replace("-", "+").replace("_", "/") + "==",  # standard base64 / padding
        lambda t: " " + t,
    ],
    ids=["two-segments", "four-segments", "empty-segment", "bad-chars", "std-base64", "space"],
)
async def test_not_a_compact_jws(
    verifier: TokenVerifier, tokens: TokenFactory, mangle: Callable[[str], str]
) -> None:
    token = mangle(tokens.make(jti="x-y_z" * 5 + "+/"))
    with pytest.raises(MalformedToken, match=r"^token is not three non-empty base64url segments$"):
        await verifier.verify(token)


async def test_header_with_impossible_base64_length(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    _, payload, signature = tokens.make().split(".")
    with pytest.raises(MalformedToken, match=r"^token header is not valid base64url$"):
        await verifier.verify(f"abcde.{payload}.{signature}")


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1,2]", b'{"alg":"RS256","alg":"none","kid":"key-a"}', b"\xff\xfe"]
)
async def test_header_not_a_json_object(
    verifier: TokenVerifier, tokens: TokenFactory, raw: bytes
) -> None:
    _, payload, signature = tokens.make().split(".")
    with pytest.raises(MalformedToken, match=r"^token header is not (valid JSON|a JSON object)$"):
        await verifier.verify(f"{b64(raw)}.{payload}.{signature}")


async def test_payload_not_json(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(MalformedToken, match=r"^token payload is not valid base64url JSON$"):
        await verifier.verify(forge(tokens.header(), b"not json", tokens.key))


async def test_one_megabyte_header(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(MalformedToken, match=r"^token is longer than 8192 bytes$"):
        await verifier.verify(tokens.make(header={"pad": "x" * 1_000_000}))


@pytest.mark.parametrize("token", [None, b"a.b.c", 42, ""])
async def test_not_a_string(verifier: TokenVerifier, token: object) -> None:
    with pytest.raises(MalformedToken, match=r"^token is (not a string|empty)$"):
        await verifier.verify(token)


# --- claims -------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
async def test_required_claim_missing(
    verifier: TokenVerifier, tokens: TokenFactory, claim: str
) -> None:
    with pytest.raises(ClaimRejected, match=rf"^token has no '{claim}' claim$"):
        await verifier.verify(tokens.make(**{claim: DROP}))


async def test_expired(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(ExpiredToken, match=r"^token has expired$"):
        await verifier.verify(tokens.make(iat=NOW - 3600, nbf=NOW - 3600, exp=NOW - 120))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_not_yet_valid(verifier: TokenVerifier, tokens: TokenFactory, claim: str) -> None:
    with pytest.raises(
        ClaimRejected, match=r"^token is not valid yet \(nbf or iat is in the future\)$"
    ):
        await verifier.verify(tokens.make(**{claim: NOW + 3600}, exp=NOW + 7200))


@pytest.mark.parametrize("exp", ["soon", None, [1]])
async def test_exp_not_a_number(verifier: TokenVerifier, tokens: TokenFactory, exp: object) -> None:
    with pytest.raises(
        InvalidToken, match=r"^token (expiry \(exp\) is not a number|has no 'exp' claim)$"
    ):
        await verifier.verify(tokens.make(exp=exp))


@pytest.mark.parametrize(
    "aud", ["other-api", ["other-api", "another"], CLIENT_ID, "parley ", "PARLEY", [AUDIENCE, 5]]
)
async def test_wrong_audience(verifier: TokenVerifier, tokens: TokenFactory, aud: object) -> None:
    with pytest.raises(ClaimRejected, match=r"^token audience \(aud\) does not include 'parley'$"):
        await verifier.verify(tokens.make(aud=aud))


@pytest.mark.parametrize("aud", [[], ""])
async def test_empty_audience(verifier: TokenVerifier, tokens: TokenFactory, aud: object) -> None:
    with pytest.raises(ClaimRejected, match=r"^token has no 'aud' claim$"):
        await verifier.verify(tokens.make(aud=aud))


@pytest.mark.parametrize(
    "issuer",
    [
        lambda real: real[:-1],  # prefix
        lambda real: real + "-evil",  # suffix
        lambda real: real + "/",  # trailing slash
        lambda real: real.upper(),
        lambda real: "http://evil.example/parley",
        lambda real: [real],
    ],
    ids=["prefix", "suffix", "slash", "case", "other", "list"],
)
async def test_wrong_issuer(
    verifier: TokenVerifier, tokens: TokenFactory, issuer: Callable[[str], object]
) -> None:
    with pytest.raises(ClaimRejected, match=r"^token issuer \(iss\) is not the configured issuer$"):
        await verifier.verify(tokens.make(iss=issuer(tokens.issuer)))


@pytest.mark.parametrize("sub", ["", "a\nb", "x" * 256, "\u0000"])
async def test_bad_subject(verifier: TokenVerifier, tokens: TokenFactory, sub: str) -> None:
    with pytest.raises(
        ClaimRejected,
        match=r"^token (subject \(sub\) is empty, too long or has control characters"
        r"|has no 'sub' claim)$",
    ):
        await verifier.verify(tokens.make(sub=sub))


async def test_subject_not_a_string(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(ClaimRejected, match=r"^token subject \(sub\) is not a string$"):
        await verifier.verify(tokens.make(sub=12345))


# --- ID tokens used as access tokens --------------------------------------------------------


async def test_id_token_audience_is_the_client(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    id_token = tokens.make(aud=CLIENT_ID, nonce="n-1", auth_time=NOW)
    with pytest.raises(ClaimRejected, match=r"^token audience \(aud\) does not include 'parley'$"):
        await verifier.verify(id_token)


@pytest.mark.parametrize(
    "claims",
    [{"at_hash": "x"}, {"c_hash": "y"}, {"token_use": "id"}, {"typ": "ID"}, {"typ": "Refresh"}],
    ids=["at_hash", "c_hash", "cognito", "keycloak-id", "keycloak-refresh"],
)
async def test_id_token_signals_even_with_our_audience(
    verifier: TokenVerifier, tokens: TokenFactory, claims: dict[str, Any]
) -> None:
    with pytest.raises(
        WrongTokenType,
        match=r"^(an ID token was offered where an access token is required"
        r"|token is not an access token \((token_use|typ claim)\))$",
    ):
        await verifier.verify(tokens.make(**claims))


@pytest.mark.parametrize("typ", ["id_token", "logout+jwt", "dpop+jwt", 7])
async def test_header_typ_of_another_kind(
    verifier: TokenVerifier, tokens: TokenFactory, typ: object
) -> None:
    with pytest.raises(WrongTokenType, match=r"^token type \(typ\) is not an access token$"):
        await verifier.verify(tokens.make(header={"typ": typ}))


async def test_nonce_alone_is_not_an_id_token_signal(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    # Keycloak and mock-oauth2-server copy the nonce into access tokens.
    assert (await verifier.verify(tokens.make(nonce="n-1"))).user_id == "alice"


# --- refusals are answerable and token-free -------------------------------------------------


async def test_refusal_bodies_carry_no_token_material(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    token = tokens.make(exp=NOW - 100, iat=NOW - 400, nbf=NOW - 400)
    with pytest.raises(ExpiredToken, match=r"^token has expired$") as info:
        await verifier.verify(token)
    exc = info.value
    assert (exc.status, exc.close_code, exc.code) == (401, 1008, "token_expired")
    body = exc.to_json()
    assert body.startswith('{"error":{"code":"token_expired","message":"token has expired; ')
    assert "WWW-Authenticate" in exc.headers()
    rendered = body + exc.to_ws_frame() + exc.close_reason + str(exc.headers()) + repr(exc)
    for segment in token.split("."):
        assert segment[:12] not in rendered
    assert exc.__cause__ is None


# --- payload JSON that is not plain JSON ------------------------------------------------------


@pytest.mark.parametrize("constant", ["Infinity", "NaN", "-Infinity"])
async def test_non_finite_numbers_in_claims(
    verifier: TokenVerifier, tokens: TokenFactory, constant: str
) -> None:
    raw = json.dumps(tokens.claims(exp=0)).replace('"exp": 0', f'"exp": {constant}').encode()
    with pytest.raises(MalformedToken, match=r"^token payload is not valid base64url JSON$"):
        await verifier.verify(forge(tokens.header(), raw, tokens.key))


async def test_duplicate_claims(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    raw = json.dumps(tokens.claims()).rstrip("}") + ', "sub": "mallory"}'
    with pytest.raises(MalformedToken, match=r"^token payload is not valid base64url JSON$"):
        await verifier.verify(forge(tokens.header(), raw.encode(), tokens.key))


async def test_payload_not_an_object(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    with pytest.raises(MalformedToken, match=r"^token payload is not a JSON object$"):
        await verifier.verify(forge(tokens.header(), b'["alice"]', tokens.key))


async def test_short_rsa_keys_in_the_jwks_are_ignored(
    autojump_clock: object, verifier: TokenVerifier, tokens: TokenFactory, jwks_server: JwksServer
) -> None:
    weak = SigningKey(
        "weak", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    jwks_server.keys.append(weak)
    await trio.sleep(30)
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(tokens.make(weak))
    assert "weak" not in verifier.keys.kids and "key-a" in verifier.keys.kids


async def test_wall_clock_is_injectable(
    jwks_server: JwksServer, http_client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    later = NOW + 10_000
    verifier = TokenVerifier(settings_for(jwks_server), http_client, wall_clock=lambda: later)
    await verifier.start()
    with pytest.raises(ExpiredToken, match=r"^token has expired$"):
        await verifier.verify(tokens.make(exp=NOW + 600))


@pytest.mark.parametrize("segment", ["header", "payload"])
async def test_deeply_nested_json(
    verifier: TokenVerifier, tokens: TokenFactory, segment: str
) -> None:
    deep = b"[" * 1500 + b"]" * 1500  # deeper than the parser's recursion limit, under 8 KB
    if segment == "header":
        token = forge(tokens.header(), tokens.claims(), tokens.key)
        token = b64(deep) + token[token.index(".") :]
        reason = r"^token header is not valid JSON$"
    else:
        token = forge(tokens.header(), deep, tokens.key)
        reason = r"^token payload is not valid base64url JSON$"
    with pytest.raises(MalformedToken, match=reason):
        await verifier.verify(token)


async def test_unreadable_ca_bundle_is_a_configuration_error(
    jwks_server: JwksServer, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    verifier = TokenVerifier(settings_for(jwks_server, oidc_ca_bundle=str(missing)))
    with pytest.raises(
        ConfigurationError,
        match=rf"^PARLEY_OIDC_CA_BUNDLE '{re.escape(str(missing))}' cannot be loaded "
        r"\(FileNotFoundError\)$",
    ):
        await verifier.start()
    await verifier.aclose()


async def test_ca_bundle_is_used_for_the_provider_client(
    jwks_server: JwksServer, tokens: TokenFactory
) -> None:
    bundle = ssl.get_default_verify_paths().cafile or certifi_bundle()
    async with TokenVerifier(settings_for(jwks_server, oidc_ca_bundle=bundle)) as verifier:
        await verifier.start()
        assert (await verifier.verify(tokens.make())).user_id == "alice"


def certifi_bundle() -> str:
    import certifi

    return str(certifi.where())


async def test_attack_corpus_on_a_locally_signed_token(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    genuine = tokens.make()
    for attack in attack_tokens(genuine):
        with pytest.raises(InvalidToken, match=rf"^{re.escape(attack.message)}$") as info:
            await verifier.verify(attack.token)
        assert (info.value.status, info.value.close_code) == (401, 1008), attack.name
        assert type(info.value).__name__ == attack.refusal, attack.name
    assert (await verifier.verify(genuine)).user_id == "alice"
