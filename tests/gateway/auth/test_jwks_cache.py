"""The key cache: flood throttling, single-flight, rotation, outages, discovery.

Time is Trio's autojump clock; the JWKS server is real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable
from functools import partial

import httpx
import pytest
import trio
from _auth_support import JwksServer, SigningKey, TokenFactory, settings_for

from gateway.auth import TokenVerifier
from protocol.refusals import ProviderUnavailable, UnknownSigningKey

MakeVerifier = Callable[..., TokenVerifier]


def assert_spacing(times: list[float], minimum: float) -> None:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= minimum for gap in gaps), gaps


async def test_random_kid_flood_fetches_at_most_once_per_30_s(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
) -> None:
    assert jwks_server.jwks_hits == 1  # start()
    rejected = 0

    async def attacker() -> None:
        nonlocal rejected
        for _ in range(40):
            token = tokens.make(header={"kid": secrets.token_urlsafe(12)})
            try:
                await verifier.verify(token)
            except UnknownSigningKey:
                rejected += 1
            await trio.sleep(2.5)

    async with trio.open_nursery() as nursery:
        for _ in range(25):
            nursery.start_soon(attacker)
    # 100 virtual seconds, 1,000 random kids: the initial fetch plus at most one per 30 s.
    assert rejected == 1000
    assert 2 <= jwks_server.jwks_hits <= 1 + 4
    assert_spacing(jwks_server.jwks_fetch_times, 30.0)
    # Legitimate tokens kept working throughout.
    assert (await verifier.verify(tokens.make())).user_id == "alice"


async def test_concurrent_unknown_kids_share_one_fetch(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key_b: SigningKey,
) -> None:
    await trio.sleep(31)
    jwks_server.keys.append(rsa_key_b)
    results: list[str] = []

    async def one(kid_key: SigningKey | None) -> None:
        token = (
            tokens.make(kid_key) if kid_key else tokens.make(header={"kid": secrets.token_hex(8)})
        )
        try:
            results.append((await verifier.verify(token)).user_id)
        except UnknownSigningKey:
            results.append("unknown")

    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(one, rsa_key_b if i % 2 else None)
    assert jwks_server.jwks_hits == 2
    assert results.count("alice") == 100 and results.count("unknown") == 100


async def test_rotation_is_picked_up_without_restart(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key: SigningKey,
    rsa_key_b: SigningKey,
) -> None:
    old_token = tokens.make(rsa_key)
    assert (await verifier.verify(old_token)).user_id == "alice"
    # The provider rotates: B signs from now on and A is retired.
    jwks_server.keys[:] = [rsa_key_b]
    await trio.sleep(30)
    assert (await verifier.verify(tokens.make(rsa_key_b, sub="bob"))).user_id == "bob"
    assert jwks_server.jwks_hits == 2
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(old_token)  # a rotated-out key


async def test_new_kid_inside_the_throttle_window_waits_for_the_window(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key_b: SigningKey,
) -> None:
    jwks_server.keys.append(rsa_key_b)
    token = tokens.make(rsa_key_b)
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(token)  # 0 s after start(): no refetch yet
    await trio.sleep(30)
    assert (await verifier.verify(token)).user_id == "alice"


async def test_background_refresh_retires_rotated_out_keys(
    autojump_clock: trio.testing.MockClock,
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key_b: SigningKey,
) -> None:
    verifier = make_verifier()
    async with trio.open_nursery() as nursery:
        await nursery.start(verifier.run)
        assert verifier.ready
        old_token = tokens.make()
        jwks_server.keys[:] = [rsa_key_b]
        await trio.sleep(verifier.keys.max_age_s + 1)
        with pytest.raises(
            UnknownSigningKey,
            match=r"^token was signed with a key the provider does not publish$",
        ):
            await verifier.verify(old_token)
        assert jwks_server.jwks_hits == 2  # the scheduled refresh, not the unknown kid
        nursery.cancel_scope.cancel()


async def test_outage_keeps_last_known_keys_and_retries_with_backoff(
    autojump_clock: trio.testing.MockClock,
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key_b: SigningKey,
) -> None:
    verifier = make_verifier()
    async with trio.open_nursery() as nursery:
        await nursery.start(verifier.run)
        jwks_server.mode = "down"
        await trio.sleep(verifier.keys.max_age_s * 3)
        # Known keys still verify, long past their refresh time.
        assert (await verifier.verify(tokens.make())).user_id == "alice"
        assert verifier.ready
        failures = verifier.keys.consecutive_failures
        assert failures >= 5
        retry_gaps = [b - a for a, b in itertools.pairwise(jwks_server.jwks_fetch_times[1:])]
        at_cap = [gap for gap in retry_gaps if gap >= 48.0]
        growing = retry_gaps[: len(retry_gaps) - len(at_cap)]
        assert growing == sorted(growing) and growing[0] < 2.0, retry_gaps  # 1, 2, 4, ... s
        assert at_cap and max(at_cap) <= 60.0, retry_gaps  # then capped at 60 s
        # Recovery: the next retry installs the rotated set.
        jwks_server.mode = "ok"
        jwks_server.keys[:] = [rsa_key_b]
        await trio.sleep(61)
        assert verifier.keys.consecutive_failures == 0
        assert (await verifier.verify(tokens.make(rsa_key_b))).user_id == "alice"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("mode", ["down", "reset", "hang", "garbage"])
async def test_failed_refresh_never_drops_keys(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    mode: str,
) -> None:
    jwks_server.mode = mode
    await trio.sleep(30)
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(tokens.make(header={"kid": "rotated-in"}))
    assert verifier.keys.consecutive_failures == 1
    assert (await verifier.verify(tokens.make())).user_id == "alice"


async def test_start_fails_clearly_when_the_provider_is_down(
    autojump_clock: trio.testing.MockClock, make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    jwks_server.mode = "down"
    verifier = make_verifier()
    with pytest.raises(
        ProviderUnavailable,
        match=rf"^no signing keys from {re.escape(jwks_server.issuer)} within 10 s "
        r"\(GET \S+/keys answered 503\)$",
    ):
        await verifier.start(timeout_s=10)
    assert not verifier.ready
    assert 3 <= jwks_server.jwks_hits <= 6  # retried with backoff: ~1, 2, 4 s


async def test_verify_before_keys_ever_loaded_is_a_503(
    autojump_clock: trio.testing.MockClock,
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
) -> None:
    jwks_server.mode = "down"
    verifier = make_verifier()
    with pytest.raises(
        ProviderUnavailable, match=r"^the identity provider's signing keys are not available$"
    ) as info:
        await verifier.verify(tokens.make())
    assert (info.value.status, info.value.close_code) == (503, 1013)


async def test_discovery_must_name_the_same_issuer(
    autojump_clock: trio.testing.MockClock, make_verifier: MakeVerifier, jwks_server: JwksServer
) -> None:
    jwks_server.issuer_in_discovery = jwks_server.issuer + "/"
    with pytest.raises(
        ProviderUnavailable,
        match=rf"^no signing keys from {re.escape(jwks_server.issuer)} within 5 s "
        rf"\({re.escape(jwks_server.issuer)}/\.well-known/openid-configuration "
        r"names a different issuer than PARLEY_OIDC_ISSUER\)$",
    ):
        await make_verifier().start(timeout_s=5)
    assert jwks_server.jwks_hits == 0


async def test_jwks_url_override_skips_discovery(
    make_verifier: MakeVerifier, tokens: TokenFactory, jwks_server: JwksServer
) -> None:
    verifier = make_verifier(oidc_jwks_url=jwks_server.jwks_url)
    await verifier.start()
    assert jwks_server.discovery_hits == 0 and jwks_server.jwks_hits == 1
    assert (await verifier.verify(tokens.make())).user_id == "alice"


async def test_lazy_refresh_without_background_task(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    rsa_key_b: SigningKey,
) -> None:
    old_token = tokens.make()
    jwks_server.keys[:] = [rsa_key_b]
    await trio.sleep(verifier.keys.max_age_s * 1.5 + 1)
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(old_token)
    assert jwks_server.jwks_hits == 2


async def test_verifier_owns_and_closes_its_client(
    jwks_server: JwksServer, tokens: TokenFactory
) -> None:
    async with TokenVerifier(settings_for(jwks_server)) as verifier:
        await verifier.start()
        assert (await verifier.verify(tokens.make())).user_id == "alice"
        client = verifier._client
        assert isinstance(client, httpx.AsyncClient)
    assert client.is_closed


@pytest.mark.parametrize(
    "document",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"keys": [{"kty": "RSA", "kid": "x", "n": 5, "e": []}]}',
        b'{"keys": [{"kty": "EC", "kid": "y", "crv": "P-256", "x": {}, "y": null}]}',
        b'{"keys": "none"}',
        b"not json",
    ],
    ids=["deep", "rsa-types", "ec-types", "keys-not-list", "not-json"],
)
async def test_hostile_jwks_documents_keep_the_old_keys(
    autojump_clock: trio.testing.MockClock,
    verifier: TokenVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
    document: bytes,
) -> None:
    jwks_server.raw_jwks = document
    await trio.sleep(30)
    with pytest.raises(
        UnknownSigningKey, match=r"^token was signed with a key the provider does not publish$"
    ):
        await verifier.verify(tokens.make(header={"kid": "x"}))
    assert verifier.keys.consecutive_failures == 1
    assert (await verifier.verify(tokens.make())).user_id == "alice"


async def test_run_without_waiting_for_keys_reports_unready_then_recovers(
    autojump_clock: trio.testing.MockClock,
    make_verifier: MakeVerifier,
    tokens: TokenFactory,
    jwks_server: JwksServer,
) -> None:
    jwks_server.mode = "down"
    verifier = make_verifier()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(verifier.run, wait_for_keys=False))
        assert not verifier.ready
        with pytest.raises(
            ProviderUnavailable,
            match=r"^the identity provider's signing keys are not available$",
        ):
            await verifier.verify(tokens.make())
        await trio.sleep(600)  # still down: retries continue, capped at 60 s apart
        assert not verifier.ready and verifier.keys.consecutive_failures >= 10
        jwks_server.mode = "ok"
        await trio.sleep(61)
        assert verifier.ready
        assert (await verifier.verify(tokens.make())).user_id == "alice"
        nursery.cancel_scope.cancel()
