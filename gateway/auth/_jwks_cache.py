"""The provider's signing keys, cached, refreshed, and kept through outages.

Rules (why each exists):
- Fetches are single-flight: one lock, and a generation counter so that tasks which waited
  behind a fetch reuse its result instead of fetching again.
- An unknown ``kid`` may trigger a fetch only if no fetch *started* in the last 30 s.
  The attempt time is recorded before the download begins, so a flood of random kids (even
  from clients that disconnect mid-fetch) costs at most one download per 30 s.
- A successful fetch replaces the whole set: a key the provider rotated out stops working.
  A failed or unusable fetch changes nothing: the last known keys stay in force.
- ``run_refresher`` (optional, in the owner's nursery) refreshes every ``max_age_s`` and
  retries failures with capped exponential backoff; without it, a request that finds the
  keys older than 1.5 x ``max_age_s`` refreshes them in-line (same throttle).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import trio

from gateway.auth._keyset import JwksRejected, KeyIndex, build_key_index
from gateway.auth._provider import ProviderError
from protocol.refusals import ProviderUnavailable, UnknownSigningKey, UnsafeTokenHeader

__all__ = ["JwksCache"]

log = logging.getLogger("parley.auth.jwks")

Clock = Callable[[], float]


class JwksCache:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[Any]],
        allowed_algorithms: frozenset[str],
        *,
        clock: Clock = trio.current_time,
        unknown_kid_interval_s: float = 30.0,
        max_age_s: float = 300.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
    ) -> None:
        self._fetch = fetch
        self._allowed = allowed_algorithms
        self._clock = clock
        self.unknown_kid_interval_s = unknown_kid_interval_s
        self.max_age_s = max_age_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._lock = trio.Lock()
        self._generation = 0
        self._keys: KeyIndex = {}
        self._kids: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._last_attempt_at: float | None = None
        self.consecutive_failures = 0
        self.last_error: str | None = None

    # --- state -------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once keys were loaded; stays true through later provider outages."""
        return self._loaded_at is not None

    @property
    def kids(self) -> frozenset[str]:
        return self._kids

    def _age(self, now: float) -> float:
        return float("inf") if self._loaded_at is None else now - self._loaded_at

    def _may_fetch_now(self, now: float) -> bool:
        last = self._last_attempt_at
        return last is None or now - last >= self.unknown_kid_interval_s

    def retry_delay(self) -> float:
        """Delay before the next scheduled attempt after ``consecutive_failures`` failures."""
        if self.consecutive_failures == 0:
            return self.max_age_s
        base = self._backoff_initial_s * 2.0 ** (self.consecutive_failures - 1)
        capped = min(base, self._backoff_max_s)
        # Jitter spreads the retries of many gateways after a shared provider outage.
        return capped * random.uniform(0.8, 1.0)

    # --- fetching ----------------------------------------------------------------------
    async def refresh(self, *, throttled: bool = False) -> bool:
        """Fetch the key set once (single-flight). Returns True if fresh keys are installed.

        ``throttled`` applies the unknown-kid rule: skip if any fetch started < 30 s ago.
        Never raises for provider failures; they are counted and logged.
        """
        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return self.consecutive_failures == 0
            now = self._clock()
            if throttled and not self._may_fetch_now(now):
                return False
            self._last_attempt_at = now
            try:
                document = await self._fetch()
                keys = build_key_index(document, self._allowed)
            except (ProviderError, JwksRejected) as exc:
                self.consecutive_failures += 1
                self.last_error = str(exc)
                log.warning(
                    "JWKS refresh failed (%d in a row), keeping %d known keys: %s",
                    self.consecutive_failures,
                    len(self._kids),
                    exc,
                )
                return False
            finally:
                self._generation += 1
            self._install(keys, now)
            return True

    def _install(self, keys: KeyIndex, now: float) -> None:
        added = {kid for kid, _ in keys} - self._kids
        removed = self._kids - {kid for kid, _ in keys}
        if added or removed:
            log.info(
                "JWKS now has %d keys (%d new, %d retired)", len(keys), len(added), len(removed)
            )
        self._keys = keys
        self._kids = frozenset(kid for kid, _ in keys)
        self._loaded_at = now
        self.consecutive_failures = 0
        self.last_error = None

    async def run_refresher(self) -> None:
        """Refresh forever: every ``max_age_s`` while healthy, with backoff while failing."""
        while True:
            base = self._last_attempt_at if self._last_attempt_at is not None else self._clock()
            await trio.sleep_until(base + self.retry_delay())
            await self.refresh()

    # --- lookup ------------------------------------------------------------------------
    async def key_for(self, kid: str, alg: str) -> jwt.PyJWK:
        """The key that must have signed a token with this header, or a refusal."""
        now = self._clock()
        key = self._keys.get((kid, alg))
        if key is not None:
            if self._age(now) > 1.5 * self.max_age_s and self._may_fetch_now(now):
                await self.refresh(throttled=True)
                key = self._keys.get((kid, alg))
            if key is not None:
                return key
        elif kid in self._kids:
            raise UnsafeTokenHeader("token algorithm does not match its signing key")
        else:
            await self.refresh(throttled=True)
            key = self._keys.get((kid, alg))
            if key is not None:
                return key
            if kid in self._kids:
                raise UnsafeTokenHeader("token algorithm does not match its signing key")
        if not self.ready:
            raise ProviderUnavailable("the identity provider's signing keys are not available")
        raise UnknownSigningKey("token was signed with a key the provider does not publish")
