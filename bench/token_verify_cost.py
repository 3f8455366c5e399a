"""Token verification cost per request with a warm key cache (not a test: prints µs).

    .venv/bin/python -m bench.token_verify_cost [--issuer URL --token T]

Without arguments it serves a local JWKS (RS256 2048-bit and ES256 keys) on 127.0.0.1, with the
test suite's fake provider (`tests/gateway/auth/_auth_support.py`);
with ``--issuer`` and ``--token`` (e.g. from ``parley token alice``) it uses that provider.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from config.settings import load_settings
from gateway.auth import TokenVerifier
from tests.gateway.auth._auth_support import JwksServer, SigningKey, TokenFactory, settings_for

ROUNDS, PER_ROUND = 7, 2000


async def measure(verifier: TokenVerifier, token: str) -> list[float]:
    await verifier.verify(token)  # warm: keys loaded, code paths hot
    per_call_us = []
    for _ in range(ROUNDS):
        # CPU time of this process: the figure that matters, and steadier on a shared machine.
        start = time.process_time()
        for _ in range(PER_ROUND):
            await verifier.verify(token)
        per_call_us.append((time.process_time() - start) / PER_ROUND * 1e6)
    return per_call_us


def report(name: str, samples: list[float]) -> None:
    print(
        f"{name:<28} median {statistics.median(samples):7.1f} µs CPU/verify "
        f"(min {min(samples):.1f}, max {max(samples):.1f}; {ROUNDS}x{PER_ROUND} calls)"
    )


async def local() -> None:
    rsa_key = SigningKey(
        "key-a", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key = SigningKey("key-ec", "ES256", ec.generate_private_key(ec.SECP256R1()))
    server = JwksServer(keys=[rsa_key, ec_key])
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
        await nursery.start(server.serve)
        verifier = TokenVerifier(settings_for(server), client)
        await verifier.start()
        tokens = TokenFactory(server.issuer, rsa_key)
        # exp far enough out for the whole run
        report(
            "RS256 (2048-bit), local",
            await measure(verifier, tokens.make(exp=int(time.time()) + 3600)),
        )
        report(
            "ES256 (P-256), local",
            await measure(verifier, tokens.make(ec_key, exp=int(time.time()) + 3600)),
        )
        assert server.jwks_hits == 1
        nursery.cancel_scope.cancel()


async def remote(issuer: str, token: str) -> None:
    async with TokenVerifier(load_settings(oidc_issuer=issuer)) as verifier:
        await verifier.start()
        report("provider token", await measure(verifier, token))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer")
    parser.add_argument("--token")
    args = parser.parse_args()
    if args.issuer and args.token:
        trio.run(remote, args.issuer, args.token)
    else:
        trio.run(local)


if __name__ == "__main__":
    main()
