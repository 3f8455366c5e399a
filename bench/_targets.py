"""Servers a scenario runs against: Parley (with its real Kafka, store and OIDC provider), the
reference peers and the no-op ceiling. The harness only sees `Target`."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench._errors import BenchError
from bench._procs import ServerProcess, raise_fd_limit, start_peer

__all__ = ["PARLEY_BENCH_ENV", "ParleyTarget", "PeerTarget", "Target"]

REPO = Path(__file__).resolve().parent.parent

# Limits meant for people, not for a load generator: raised for the bench, and the results
# file says so. Everything else runs with Parley's defaults.
PARLEY_BENCH_ENV = {
    "PARLEY_USER_RATE_PER_S": "1000000",
    "PARLEY_USER_RATE_BURST": "1000000",
    "PARLEY_MAX_CONNECTIONS_PER_USER": "1000000",
}


@dataclass
class Target:
    """`name` labels the figures; `ws`/`http` are what the generator connects to."""

    name: str
    ws: dict[str, Any]
    http: dict[str, Any]
    server_pid: int
    pids: list[int] = field(default_factory=list)
    # The server's own processes, charged as `app` in CPU per message (bench._cpu)
    app_pids: list[int] = field(default_factory=list)
    # Services it started for itself (name -> pid): charged by name, like shared ones
    own_services: dict[str, int] = field(default_factory=dict)
    # Where the generator POSTs messages, when not `http` (Parley: its fast listener, which
    # answers the posting routes as the HTTP port does, without Hypercorn)
    post_http: dict[str, Any] | None = None

    @property
    def posting(self) -> dict[str, Any]:
        return self.http if self.post_http is None else self.post_http

    def tokens(self, users: int) -> list[str]:
        return ["bench"] * max(1, users)

    def new_threads(self, count: int, users: int) -> list[str]:
        return [f"t-{uuid.uuid4().hex[:12]}" for _ in range(count)]

    def close(self) -> None:
        return None


class PeerTarget(Target):
    def __init__(
        self, module: str, name: str, ws_path: str = "/ws", env: dict[str, str] | None = None
    ) -> None:
        self.proc: ServerProcess = start_peer(module, name, env)
        port = self.proc.port
        super().__init__(
            name=name,
            ws={"host": "127.0.0.1", "port": port, "path": ws_path},
            http={"host": "127.0.0.1", "port": port},
            server_pid=self.proc.pid,
            pids=[self.proc.pid],
            app_pids=[self.proc.pid],
        )

    def close(self) -> None:
        self.proc.stop()

    def __enter__(self) -> PeerTarget:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ParleyTarget(Target):
    """Local services on free ports in a temporary state dir, then `parley serve` on them."""

    kafka_bootstrap: str = ""
    mongo_uri: str = ""

    def __init__(
        self,
        users: int,
        services: tuple[str, str, str] | None = None,
        service_pids: Sequence[int] = (),
        *,
        name: str = "parley",
        extra_env: dict[str, str] | None = None,
        members: Sequence[str] = (),
    ) -> None:
        """`services` = (kafka bootstrap, mongo URI, OIDC issuer) of a running stack to reuse
        (the test session's); without it the bench starts its own and stops it at the end.
        `extra_env` is added to the server's environment; `members` join every thread it creates
        (a plugin's bot user)."""
        from infra import LocalServices, Ports, fetch_access_token, find_free_ports

        raise_fd_limit()
        self._tmp = tempfile.TemporaryDirectory(prefix="parley-bench-")
        state = Path(self._tmp.name)
        self._stack = None if services else LocalServices(Ports.free(), state / "services")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = state / "parley-serve.log"
        try:
            if self._stack is not None:
                ends = self._stack.start()
                kafka, mongo, issuer = ends.kafka_bootstrap, ends.mongo_uri, ends.oidc_issuer
            else:
                assert services is not None
                kafka, mongo, issuer = services
            self.kafka_bootstrap = kafka
            # A database of its own: bench threads never mix with anybody's data.
            run = uuid.uuid4().hex[:8]
            self.database = f"parley_bench_{run}"
            mongo = mongo.rsplit("/", 1)[0] + f"/{self.database}"
            self.mongo_uri = mongo
            http_port, ws_port = find_free_ports(2)
            env = dict(os.environ)
            env.update(PARLEY_BENCH_ENV)
            env.update(
                PARLEY_HTTP_PORT=str(http_port),
                PARLEY_WS_PORT=str(ws_port),
                PARLEY_KAFKA_BOOTSTRAP=kafka,
                PARLEY_MONGO_URI=mongo,
                PARLEY_OIDC_ISSUER=issuer,
                PARLEY_STATE_DIR=str(state / "parley"),
                # Topics and a core group of its own too: a scenario must not start with the
                # previous one's backlog (the WebSocket ingest leaves ~100k records for the
                # core to store after its clients are done).
                PARLEY_COMMANDS_TOPIC=f"bench.{run}.commands",
                PARLEY_EVENTS_TOPIC=f"bench.{run}.events",
                PARLEY_DLQ_TOPIC=f"bench.{run}.dlq",
                PARLEY_CORE_GROUP=f"bench-{run}-core",
            )
            env.update(extra_env or {})
            parley = Path(sys.executable).with_name("parley")
            with open(self._log, "wb") as log:
                self._proc = subprocess.Popen(
                    [str(parley), "serve"], env=env, stdout=log, stderr=log, cwd=REPO
                )
            self._api = f"http://127.0.0.1:{http_port}"
            self._wait_ready()
            config = self._browser_config()
            ws_url = urlsplit(config["wsUrl"])
            stack = self._stack.services if self._stack is not None else ()
            own = {svc.name: pid for svc in stack if (pid := svc.pid()) is not None}
            services_pids = [*own.values(), *service_pids]
            super().__init__(
                name=name,
                ws={"host": ws_url.hostname, "port": ws_url.port, "path": ws_url.path or "/"},
                http={"host": "127.0.0.1", "port": http_port},
                post_http={"host": ws_url.hostname, "port": ws_url.port},
                server_pid=self._proc.pid,
                pids=[self._proc.pid, *services_pids],
                app_pids=[self._proc.pid],
                own_services=own,
            )
            self._members = list(members)
            self._users = [f"bench-{i}" for i in range(max(2, users))]
            self._tokens = [
                fetch_access_token(issuer, u, config.get("audience", "parley")) for u in self._users
            ]
            self._client = httpx.Client(base_url=self._api, timeout=30.0)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, limit_s: float = 90.0) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + limit_s
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BenchError(f"parley serve exited {self._proc.returncode}: {self._tail()}")
            try:
                resp = httpx.get(self._api + "/readyz", timeout=2.0)
                if resp.status_code == 200:
                    return
                last = resp.text[:200]
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise BenchError(f"parley never became ready in {limit_s:.0f} s: {last}")

    def _browser_config(self) -> dict[str, str]:
        text = httpx.get(self._api + "/config.js", timeout=5.0).text
        start, end = text.index("{"), text.rindex("}") + 1
        config: dict[str, str] = orjson.loads(text[start:end])
        return config

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self._log.read_text(errors="replace").strip().splitlines()[-5:])
        return ""

    def tokens(self, users: int) -> list[str]:
        return list(itertools.islice(itertools.cycle(self._tokens), max(1, users)))

    def new_threads(self, count: int, users: int) -> list[str]:
        members = [*self._users[: max(2, users)], *self._members]
        ids = []
        for i in range(count):
            resp = self._post_retrying(
                "/api/threads", {"title": f"bench {i}", "members": members}, self._tokens[0]
            )
            if resp.status_code not in (200, 201):
                raise BenchError(f"POST /api/threads: HTTP {resp.status_code} {resp.text[:200]}")
            ids.append(str(resp.json()["thread_id"]))
        return ids

    def _post_retrying(
        self, path: str, body: dict[str, Any], token: str, limit_s: float = 30.0
    ) -> httpx.Response:
        """503 + Retry-After is Parley saying "not yet" (e.g. keys still loading): honour it."""
        deadline = time.monotonic() + limit_s
        while True:
            resp = self._client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            if resp.status_code != 503 or time.monotonic() > deadline:
                return resp
            time.sleep(min(2.0, float(resp.headers.get("Retry-After", "0.5") or 0.5)))

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        with contextlib.suppress(AttributeError):
            self._client.close()
        if self._stack is not None:
            self._stack.stop()
        self._tmp.cleanup()
