"""A child process as a Service, with an HTTP liveness probe that kills it when it hangs.

For work that must not share an event loop with the chat path (plugins: a busy loop in a
Trio task stops every other task of its process). The service respawns the child with a
jittered exponential backoff when it exits on its own or the probe kills it. stop() sends
SIGTERM and waits for the child's own drain (cancellation escalates to SIGKILL, as
trio.run_process does).
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Mapping, Sequence
from functools import partial

import httpx
import trio

from ._backoff import backoff_delays
from ._errors import AdapterError

__all__ = ["ChildExited", "SupervisedChild", "free_port"]

log = logging.getLogger(__name__)
# A child that ran this long was healthy: its next crash starts the backoff afresh.
_HEALTHY_RUN_S = 60.0
_PROBE_EVERY_S = 0.5


class ChildExited(AdapterError):
    """Reserved: a child that cannot be started at all (SupervisedChild respawns the rest)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class SupervisedChild:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        health_url: str,
        unresponsive_s: float = 10.0,
        startup_s: float = 30.0,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = dict(env)
        self._health_url = health_url
        self._unresponsive_s = unresponsive_s
        self._startup_s = startup_s
        self._process: trio.Process | None = None
        self._stopping = False
        self.kills = 0
        self.restarts = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the child running until stop(); a crash or a kill respawns it with backoff.

        The restarts happen here, not through the actor supervisor: a child in a crash loop
        must never use up the restart intensity of the tree that serves the chat.
        """
        self._stopping = False
        delays = backoff_delays(first=0.5, cap=30.0)
        task_status.started()
        while not self.stopping():
            began = trio.current_time()
            code = await self._run_once()
            if self.stopping():  # stop() ran while we waited
                return
            self.restarts += 1
            if trio.current_time() - began > _HEALTHY_RUN_S:
                delays = backoff_delays(first=0.5, cap=30.0)
            delay = next(delays)
            log.error(
                "child ended; restarting",
                extra={"child": self.name, "code": code, "restart_in_s": round(delay, 2)},
            )
            await trio.sleep(delay)

    async def _run_once(self) -> int:
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(trio.run_process, self._argv, env=self._env, check=False)
            )
            self._process = process
            nursery.start_soon(self._probe, process)
            code = await process.wait()
            nursery.cancel_scope.cancel()
        return code

    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)

    async def _probe(self, process: trio.Process) -> None:
        started = trio.current_time()
        last_ok: float | None = None
        async with httpx.AsyncClient(timeout=2.0) as client:
            while process.returncode is None:
                await trio.sleep(_PROBE_EVERY_S)
                sent_at = trio.current_time()
                try:
                    answer = await client.get(self._health_url)
                    if answer.status_code == 200:
                        if last_ok is None:
                            log.info("child answers", extra={"child": self.name})
                        last_ok = trio.current_time()
                except httpx.HTTPError as exc:
                    if last_ok is None and isinstance(exc, httpx.ReadTimeout):
                        # It accepted the connection, so it started; it just never answered
                        # (a busy loop can begin before the first probe gets through).
                        last_ok = sent_at
                    if last_ok is not None and not self._stopping:
                        log.warning(
                            "child did not answer", extra={"child": self.name, "why": repr(exc)}
                        )
                now = trio.current_time()
                stuck = (
                    now - started > self._startup_s
                    if last_ok is None
                    else now - last_ok > self._unresponsive_s
                )
                if stuck and not self._stopping:
                    log.error(
                        "child unresponsive: killed",
                        extra={"child": self.name, "pid": process.pid, "url": self._health_url},
                    )
                    self.kills += 1
                    process.kill()
                    return
