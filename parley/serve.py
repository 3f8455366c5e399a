"""`parley serve`: run a gateway, a core, or both in one Trio process."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from functools import partial

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hypercorn_serve

from gateway.app import create_app
from gateway.context import GatewayContext
from parley.logs import configure_logging
from parley.settings import Role, Settings, load_settings

__all__ = ["run_server", "serve_main"]

log = logging.getLogger("parley.serve")


def serve_main(role: str | None = None, port: int | None = None) -> int:
    overrides: dict[str, object] = {}
    if role is not None:
        overrides["role"] = Role(role)
    if port is not None:
        overrides["http_port"] = port
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    trio.run(run_server, settings)
    return 0


def _hypercorn_config(settings: Settings) -> HyperConfig:
    config = HyperConfig()
    config.bind = [f"{settings.http_host}:{settings.http_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.backlog = 2048
    config.graceful_timeout = settings.shutdown_grace_s
    # Without pings a vanished client may never reach the app under Trio (hypercorn#210).
    config.websocket_ping_interval = 20.0
    return config


async def run_server(
    settings: Settings, *, task_status: trio.TaskStatus[GatewayContext] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGTERM/SIGINT, then drain: refuse new work, finish in-flight, exit."""
    ctx = GatewayContext(settings)
    app = create_app(ctx)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain_on_signal, signals, ctx, nursery.cancel_scope)
            # Hypercorn stops accepting when draining is set and waits for in-flight requests.
            await nursery.start(
                partial(
                    hypercorn_serve,
                    app,
                    _hypercorn_config(settings),
                    shutdown_trigger=ctx.readiness.draining.wait,
                )
            )
            log.info("gateway listening", extra={"url": settings.http_base_url})
            task_status.started(ctx)
            await ctx.readiness.draining.wait()
        log.info("stopped cleanly")


async def _drain_on_signal(
    signals: AsyncIterator[int], ctx: GatewayContext, scope: trio.CancelScope
) -> None:
    async for signum in signals:
        if ctx.readiness.draining.is_set():
            log.warning("second signal: stopping at once", extra={"signal": signum})
            scope.cancel()
            return
        log.info("signal received: draining", extra={"signal": signum})
        ctx.readiness.draining.set()
