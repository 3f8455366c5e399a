"""`python -m bench.history_scale`: does a REST history page cost the same at 1,000,000 stored
messages as at 10,000, on FerretDB over SQLite and over PostgreSQL?

For each backend: Parley on the run's Kafka and OIDC provider and on that store; one thread
of 10 messages posted through REST; then messages of other threads bulk-loaded into the same
collection directly (the store, not Parley: 1,000,000 posts would take hours here) up to each
size; at each size, sequential `GET /api/threads/{id}/messages` (p50/p99), the store's own
history and last-seq queries timed through the driver, and FerretDB's `explain` of both (did
the filter and the sort reach the backend, and what plan did it run). Bounded: loading stops
at `--load-limit-s` (the size reached is reported), each measurement at `--queries` requests or
`--query-limit-s` seconds, whichever comes first (at least 3 requests).

PostgreSQL is Debian's package (`/usr/lib/postgresql/N/bin`), a throw-away cluster in a
temporary directory, run as the `postgres` user when this runs as root.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pymongo

from bench._errors import BenchError
from bench._targets import ParleyTarget

__all__ = ["main", "quantiles"]

FILLER_THREADS = 1000
BATCH = 1000


def quantiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in ms (with fewer than 100 samples p99 is the largest), and the count."""
    if not samples_s:
        return {"count": 0}
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "count": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": p99 * 1000,
    }


def _timed(
    call: Callable[[], object], queries: int, limit_s: float, at_least: int = 3
) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + limit_s
    while len(samples) < queries and (len(samples) < at_least or time.monotonic() < deadline):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


# --- PostgreSQL + FerretDB -------------------------------------------------------------------
def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise BenchError("PostgreSQL not installed: apt-get install postgresql")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise BenchError(f"{Path(cmd[4 if cmd[0] == 'runuser' else 0]).name}: {proc.stderr[-500:]}")


def gin_index(psql: list[str], database: str) -> None:
    """FerretDB 1.24 filters `_jsonb -> 'thread_id' @> '"ID"'`, which its own btree indexes
    (on `(_jsonb -> 'thread_id')`) cannot serve; a GIN index on the same expression can.
    Created behind FerretDB's back, in the schema it keeps the database in."""
    table = subprocess.run(
        [
            *psql,
            "-c",
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{database}' AND table_name LIKE 'messages%'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not table:
        raise BenchError(f"no messages table in schema {database}")
    _run(
        [
            *psql,
            "-c",
            f'CREATE INDEX IF NOT EXISTS bench_thread_gin ON "{database}"."{table}" '
            "USING gin ((_jsonb -> 'thread_id'))",
        ]
    )
    _run([*psql, "-c", f'ANALYZE "{database}"."{table}"'])


def _wait_ping(uri: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            with pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
                client.admin.command("ping")
                return
        except pymongo.errors.PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextlib.contextmanager
def ferretdb_on_postgresql() -> Iterator[tuple[str, list[str]]]:
    """A throw-away PostgreSQL cluster and FerretDB on it; yields the MongoDB URI and the
    psql command line of the cluster."""
    from infra import find_free_ports
    from infra._paths import FERRETDB_BIN

    pg = _pg_bin()
    # A directory of its own, readable by the postgres user (a temporary dir is 0700).
    root = Path(tempfile.mkdtemp(prefix="parley-history-pg-"))
    os.chmod(root, 0o755)
    data, log = root / "pg", root / "pg.log"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    pg_port, port = find_free_ports(2)
    _run(_as_postgres([str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]))
    opts = f"-p {pg_port} -k {data} -c listen_addresses=127.0.0.1"
    ctl = [str(pg / "pg_ctl"), "-D", str(data), "-l", str(log)]
    _run(_as_postgres([*ctl, "-o", opts, "-w", "start"]))
    ferret: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                str(pg / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(pg_port),
                "-U",
                "postgres",
                "ferretdb",
            ],
            check=True,
            capture_output=True,
        )
        with open(root / "ferretdb.log", "wb") as out:
            ferret = subprocess.Popen(
                [
                    str(FERRETDB_BIN),
                    f"--listen-addr=127.0.0.1:{port}",
                    "--handler=postgresql",
                    f"--postgresql-url=postgres://postgres@127.0.0.1:{pg_port}/ferretdb",
                    "--log-level=warn",
                ],
                stdout=out,
                stderr=out,
            )
        uri = f"mongodb://127.0.0.1:{port}/parley"
        _wait_ping(uri)
        psql = [str(pg / "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres"]
        yield uri, [*psql, "-v", "ON_ERROR_STOP=1", "-qAt", "ferretdb"]
    finally:
        if ferret is not None:
            ferret.terminate()
            ferret.wait(10)
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# --- one backend -----------------------------------------------------------------------------
def _filler(start: int, count: int, run: str) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return [
        {
            "message_id": f"{run}-{i}",
            "thread_id": f"filler-{run}-{i % FILLER_THREADS}",
            "seq": i // FILLER_THREADS + 1,
            "sender_id": "bench-filler",
            "text": f"filler {i} " + "x" * 90,
            "created_at": now,
        }
        for i in range(start, start + count)
    ]


def _explain(messages: pymongo.collection.Collection[Any], find: dict[str, Any]) -> Any:
    try:
        return messages.database.command("explain", {"find": messages.name, **find})
    except pymongo.errors.PyMongoError as exc:
        return f"explain failed: {exc}"


def measure_backend(
    name: str,
    endpoints: tuple[str, str, str],
    sizes: Sequence[int],
    *,
    queries: int,
    query_limit_s: float,
    load_limit_s: float,
    min_queries: int = 3,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    after_load: Callable[[str], None] = lambda database: None,
) -> list[dict[str, Any]]:
    kafka, mongo, issuer = endpoints
    out: list[dict[str, Any]] = []
    target = ParleyTarget(users=2, services=(kafka, mongo, issuer))
    try:
        thread = target.new_threads(1, 2)[0]
        token = target.tokens(1)[0]
        headers = {"Authorization": f"Bearer {token}"}
        api = f"http://127.0.0.1:{target.http['port']}"
        with httpx.Client(base_url=api, headers=headers, timeout=120.0) as http:
            for k in range(10):
                resp = http.post(
                    "/api/messages",
                    json={"thread_id": thread, "text": f"history {k}", "client_msg_id": f"h{k}"},
                )
                if resp.status_code != 202:
                    raise BenchError(f"POST /api/messages: HTTP {resp.status_code} {resp.text}")
            page = f"/api/threads/{thread}/messages"
            deadline = time.monotonic() + 60
            while len(http.get(page).json().get("messages", [])) < 10:
                if time.monotonic() > deadline:
                    raise BenchError("the 10 messages were not stored within 60 s")
                time.sleep(0.2)
            db_name = target.database
            with pymongo.MongoClient(mongo, serverSelectionTimeoutMS=10_000) as client:
                messages = client[db_name]["messages"]
                run = uuid.uuid4().hex[:6]
                stored = messages.count_documents({})
                loaded, load_s = 0, 0.0
                for size in sizes:
                    started = time.monotonic()
                    while stored < size and load_s + time.monotonic() - started < load_limit_s:
                        n = min(BATCH, size - stored)
                        messages.insert_many(_filler(loaded, n, run), ordered=False)
                        loaded += n
                        stored += n
                    load_s += time.monotonic() - started
                    after_load(db_name)
                    history_q = {"filter": {"thread_id": thread}, "sort": {"seq": -1}, "limit": 51}
                    last_q = {"filter": {"thread_id": thread}, "sort": {"seq": -1}, "limit": 1}
                    rest = _timed(
                        lambda: http.get(page).raise_for_status(),
                        queries,
                        query_limit_s,
                        min_queries,
                    )
                    store_history = _timed(
                        lambda: list(
                            messages.find({"thread_id": thread}).sort("seq", -1).limit(51)
                        ),
                        queries,
                        query_limit_s,
                        min_queries,
                    )
                    store_last = _timed(
                        lambda: messages.find_one({"thread_id": thread}, sort=[("seq", -1)]),
                        queries,
                        query_limit_s,
                        min_queries,
                    )
                    row = {
                        "backend": name,
                        "target_size": size,
                        "stored": stored,
                        "load_s": round(load_s, 1),
                        "rest_history_page": quantiles(rest),
                        "store_history_query": quantiles(store_history),
                        "store_last_seq_query": quantiles(store_last),
                        "explain_history": _explain(messages, history_q),
                        "explain_last_seq": _explain(messages, last_q),
                    }
                    print(
                        orjson.dumps({k: v for k, v in row.items() if "explain" not in k}).decode(),
                        file=sys.stderr,
                        flush=True,
                    )
                    out.append(row)
                    on_row(row)
    finally:
        target.close()
    return out


def _nothing(database: str) -> None:
    return None


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    """After every measurement: an interrupted run keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.history_scale", description=__doc__)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--sizes", default="10000,1000000")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--query-limit-s", type=float, default=30.0)
    p.add_argument("--load-limit-s", type=float, default=900.0)
    p.add_argument(
        "--pg-gin-index",
        action="store_true",
        help="PostgreSQL: add a GIN index on the thread_id expression FerretDB filters on",
    )
    p.add_argument(
        "--min-queries", type=int, default=3, help="requests per measurement even past the limit"
    )
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "history.json"
    )
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    from infra import LocalServices, Ports

    results: list[dict[str, Any]] = []

    def keep(row: dict[str, Any]) -> None:
        results.append(row)
        _write(args.out, results)

    with tempfile.TemporaryDirectory(prefix="parley-history-") as tmp:
        local = LocalServices(Ports.free(), Path(tmp) / "services")
        ends = local.start()
        try:
            for backend in args.backends.split(","):
                print(f"history_scale: {backend} ...", file=sys.stderr, flush=True)
                with contextlib.ExitStack() as stack:
                    after_load: Callable[[str], None] = _nothing
                    if backend == "sqlite":
                        mongo = ends.mongo_uri
                    elif backend == "postgresql":
                        mongo, psql = stack.enter_context(ferretdb_on_postgresql())
                        if args.pg_gin_index:
                            after_load = functools.partial(gin_index, psql)
                    else:
                        raise BenchError(f"unknown backend {backend!r}")
                    measure_backend(
                        backend,
                        (ends.kafka_bootstrap, mongo, ends.oidc_issuer),
                        sizes,
                        queries=args.queries,
                        query_limit_s=args.query_limit_s,
                        load_limit_s=args.load_limit_s,
                        min_queries=args.min_queries,
                        on_row=keep,
                        after_load=after_load,
                    )
        finally:
            local.stop()
    _write(args.out, results)
    for r in results:
        rest = r["rest_history_page"]
        print(
            f"{r['backend']:10} stored {r['stored']:>9,}  REST page p50 "
            f"{rest.get('p50_ms', 0):9.1f} ms"
            f"  p99 {rest.get('p99_ms', 0):9.1f} ms (n={rest['count']})  store history p50 "
            f"{r['store_history_query'].get('p50_ms', 0):9.1f} ms  last-seq p50 "
            f"{r['store_last_seq_query'].get('p50_ms', 0):9.1f} ms"
        )
    print(f"history_scale: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
