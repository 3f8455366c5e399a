"""The same-guarantee peer as a bench target: `bench/peers/chat_go` (Go), built on demand,
run on the scenario's own Kafka, store and OIDC provider with a topic, consumer group and
database of its own, and fed tokens from the same provider as Parley's clients."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import orjson

from bench._errors import BenchError
from bench._gobuild import GoBuildError, build_go
from bench._procs import ServerProcess, raise_fd_limit
from bench._targets import Target

__all__ = ["GO_PEER", "GO_PEER_SOURCES", "GoPeerTarget"]

GO_PEER = "go peer (franz-go+mongo+gorilla)"
GO_PEER_SOURCES = Path(__file__).resolve().parent / "peers" / "chat_go"


class GoPeerTarget(Target):
    """`endpoints` = (Kafka bootstrap, MongoDB URI, OIDC issuer) of the run."""

    def __init__(
        self,
        endpoints: tuple[str, str, str],
        users: int,
        *,
        audience: str = "parley",
        partitions: int = 6,
        start_limit_s: float = 90.0,
    ) -> None:
        from infra import fetch_access_token

        go = shutil.which("go")
        if go is None:
            raise BenchError("`go` not found: the Go peer cannot be built")
        try:
            exe = build_go(go, GO_PEER_SOURCES, "chat_go")
        except GoBuildError as exc:
            raise BenchError(f"Go peer: {exc}") from exc
        raise_fd_limit()
        kafka, mongo, issuer = endpoints
        run = uuid.uuid4().hex[:8]
        # A database of its own per start: a peer never reads another run's messages.
        self.mongo_uri = mongo.rsplit("/", 1)[0] + f"/bench_gopeer_{run}"
        env = {
            **os.environ,
            "BENCH_KAFKA_BOOTSTRAP": kafka,
            "BENCH_MONGO_URI": self.mongo_uri,
            "BENCH_OIDC_ISSUER": issuer,
            "BENCH_AUDIENCE": audience,
            "BENCH_TOPIC": f"bench.{run}.gopeer",
            "BENCH_GROUP": f"bench-{run}-gopeer",
            "BENCH_PARTITIONS": str(partitions),
        }
        fd, log_path = tempfile.mkstemp(prefix="chat_go-", suffix=".log")
        os.close(fd)
        self._log = Path(log_path)
        with open(self._log, "wb") as log:
            proc = subprocess.Popen(
                [str(exe)], env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
            )
        self.proc = ServerProcess(GO_PEER, proc, _read_port(proc, start_limit_s, self._tail))
        super().__init__(
            name=GO_PEER,
            ws={"host": "127.0.0.1", "port": self.proc.port, "path": "/ws"},
            http={"host": "127.0.0.1", "port": self.proc.port},
            server_pid=proc.pid,
            pids=[proc.pid],
            app_pids=[proc.pid],
        )
        try:
            self._tokens = [
                fetch_access_token(issuer, f"bench-{i}", audience) for i in range(max(2, users))
            ]
        except BaseException:
            self.close()
            raise

    def tokens(self, users: int) -> list[str]:
        return [self._tokens[i % len(self._tokens)] for i in range(max(1, users))]

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            text = self._log.read_text(errors="replace")
            return " | ".join(text.strip().splitlines()[-5:])
        return ""

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self.proc.stop()
        self._log.unlink(missing_ok=True)

    def __enter__(self) -> GoPeerTarget:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _read_port(proc: subprocess.Popen[bytes], limit_s: float, tail: Callable[[], str]) -> int:
    """The `{"port": N}` line the peer prints once it serves; killed past `limit_s`."""
    timer = threading.Timer(limit_s, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        timer.cancel()
    if not line:
        proc.kill()
        proc.wait()
        raise BenchError(f"Go peer did not start (exit {proc.returncode}): {tail()}")
    return int(orjson.loads(line)["port"])
