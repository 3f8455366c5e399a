"""When Hypercorn may stop: after the drain began and HTTP clients went quiet (or a cap passed).

Why not at once: Hypercorn closes every idle kept-alive connection the moment it is told to
stop, without reading what is already in the socket. A client whose request crossed that
moment got a connection reset instead of an answer (the SIGTERM chaos test saw one in CI). So
the drain has two steps:

1. The drain flag is up but Hypercorn still reads: every request is answered 503 with
   ``Retry-After`` and ``Connection: close``, so kept-alive connections are closed by their
   answers, not under a request in flight.
2. Once no request began for ``quiet_s`` and none is being answered, or after ``cap_s``,
   Hypercorn stops: its listener closes and only connections idle for ``quiet_s`` remain to
   be closed. A client that honours ``Retry-After`` is not sending then.

Closing an idle HTTP/1.1 connection can always cross a request (RFC 9112 §9.6); this makes it
happen only to clients that ignore ``Retry-After`` and only at the cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import trio

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope

__all__ = ["Activity", "RequestActivity", "stop_when_quiet"]


class Activity(Protocol):
    def quiet_for(self) -> float:
        """Seconds since the last request began; 0 while one is being answered."""
        ...


class RequestActivity:
    """An ASGI wrapper noting when the last HTTP request began and how many are open."""

    def __init__(self, app: ASGIFramework) -> None:
        self._app = app
        self.in_flight = 0
        self.last_start = -float("inf")  # trio.current_time() of the last request's start

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        self.last_start = trio.current_time()
        self.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def quiet_for(self) -> float:
        """Seconds since the last request began; 0 while one is being answered."""
        if self.in_flight:
            return 0.0
        return trio.current_time() - self.last_start


async def stop_when_quiet(
    draining: trio.Event, activity: Activity, *, quiet_s: float, cap_s: float
) -> None:
    """Hypercorn's shutdown trigger: returns ``quiet_s`` into a lull after the drain, or at
    ``cap_s`` after it, whichever comes first."""
    await draining.wait()
    with trio.move_on_after(cap_s):
        # Polled, not signalled: a request start is too hot a path for an Event per request.
        while True:
            quiet = activity.quiet_for()
            if quiet >= quiet_s:
                return
            await trio.sleep(quiet_s - quiet if quiet else quiet_s / 10)
