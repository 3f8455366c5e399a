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

PostgreSQL is the local store of `infra` (Debian's package, a cluster under the run's temporary
state directory, GIN indexes from `infra/postgres/indexes.sql`); after each load the run waits
for autovacuum to finish and runs `VACUUM ANALYZE` (`settle_s`), so that the page is measured on
a store at rest. SQLite is a FerretDB of its own on SQLite files. `rest_replay_after_seq` is
`GET ...?after_seq=0`, the store call a WebSocket subscribe replays with.

`--long-thread`: the same sizes in ONE thread instead of spread over 1,000. Two threads made
through REST: a control thread loaded to 10,000 messages once, and the measured thread loaded to
each size, both through the store's own write (`MongoStore.insert_new_messages`, as the
sequencer writes, so every field and mark the store keeps is there). At each size every figure
is taken alternately on the two threads, so both see the same moment of a shared machine: REST
latest page, REST page before the thread's middle seq, REST page after the middle seq (the
store call a subscribe replays with), the store's `last_seq`, and an `insert_message` with
`assign_seq` (which reads the last seq first: the write path). Each row gives both threads'
p50/p99 and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
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
import trio

from adapters import StoreError
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


# --- the two stores ---------------------------------------------------------------------
def _settle(psql: Callable[..., subprocess.CompletedProcess[str]], limit_s: float) -> float:
    """Wait until no autovacuum worker runs (the load's aftermath: ANALYZE and VACUUM of the
    fresh rows, which compete for the two cores), then merge GIN pending lists; seconds waited.
    A history page is measured on a store at rest, as it would be a while after the writes."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        busy = psql(
            "-c",
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
        ).stdout.strip()
        if busy in ("", "0"):
            break
        time.sleep(1.0)
    psql("-c", "VACUUM ANALYZE")
    return time.monotonic() - started


@contextlib.contextmanager
def ferretdb_on_sqlite(root: Path) -> Iterator[str]:
    """A FerretDB of its own on SQLite files (the earlier local store); yields its URI."""
    from infra import find_free_port
    from infra._ferretdb import FerretDB

    store = FerretDB(root, find_free_port())
    store.launch()
    try:
        store.wait_ready(time.monotonic() + store.start_deadline_s)
        yield f"mongodb://127.0.0.1:{store.port}/parley"
    finally:
        if store.proc is not None:
            store.proc.terminate()
            store.proc.wait(10)


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


CONTROL_SIZE = 10_000
CONTROL_THREAD = "control-thread"


def _control_collection(
    db: pymongo.database.Database[Any], run: str
) -> pymongo.collection.Collection[Any]:
    """A collection of CONTROL_SIZE messages, one thread of 10 among them, in a database of its
    own (so it gets the same indexes), kept at that size while the measured one grows."""
    control = db["messages"]
    if control.count_documents({}) == 0:
        for start in range(0, CONTROL_SIZE - 10, BATCH):
            control.insert_many(
                _filler(start, min(BATCH, CONTROL_SIZE - 10 - start), f"c{run}"), ordered=False
            )
        control.insert_many(
            [
                {**doc, "thread_id": CONTROL_THREAD, "seq": k + 1}
                for k, doc in enumerate(_filler(CONTROL_SIZE, 10, f"c{run}"))
            ]
        )
    return control


def _interleaved(
    control: pymongo.collection.Collection[Any],
    measured: pymongo.collection.Collection[Any],
    thread: str,
    queries: int,
) -> dict[str, Any]:
    small: list[float] = []
    large: list[float] = []
    for _ in range(queries):
        for coll, tid, samples in ((control, CONTROL_THREAD, small), (measured, thread, large)):
            start = time.perf_counter()
            list(coll.find({"thread_id": tid}).sort("seq", -1).limit(51))
            samples.append(time.perf_counter() - start)
    lo, hi = quantiles(small), quantiles(large)
    return {
        "control_10k": lo,
        "this_size": hi,
        "p50_ratio": round(hi["p50_ms"] / lo["p50_ms"], 2),
        "p99_ratio": round(hi["p99_ms"] / lo["p99_ms"], 2),
    }


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
    after_load: Callable[[], float] = lambda: 0.0,
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
                control = _control_collection(client[f"{db_name}_control"], run)
                loaded, load_s = 0, 0.0
                for size in sizes:
                    started = time.monotonic()
                    while stored < size and load_s + time.monotonic() - started < load_limit_s:
                        n = min(BATCH, size - stored)
                        messages.insert_many(_filler(loaded, n, run), ordered=False)
                        loaded += n
                        stored += n
                    load_s += time.monotonic() - started
                    settle_s = after_load()
                    history_q = {"filter": {"thread_id": thread}, "sort": {"seq": -1}, "limit": 51}
                    last_q = {"filter": {"thread_id": thread}, "sort": {"seq": -1}, "limit": 1}
                    replay_q = {
                        "filter": {"thread_id": thread, "seq": {"$gt": 0}},
                        "sort": {"seq": 1},
                        "limit": 101,
                    }
                    rest = _timed(
                        lambda: http.get(page).raise_for_status(),
                        queries,
                        query_limit_s,
                        min_queries,
                    )
                    # `after_seq` is the store path a WebSocket subscribe replays with
                    # (`since_seq`): the same `MongoStore.history(after_seq=...)` call.
                    replay = _timed(
                        lambda: http.get(page, params={"after_seq": 0}).raise_for_status(),
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
                        "settle_s": round(settle_s, 1),
                        "rest_history_page": quantiles(rest),
                        "rest_replay_after_seq": quantiles(replay),
                        "store_history_query": quantiles(store_history),
                        "store_last_seq_query": quantiles(store_last),
                        # The same query alternately on a 10,000-message collection and on this
                        # one: both see the same moment of a machine others share.
                        "interleaved_store_history": _interleaved(
                            control, messages, thread, queries
                        ),
                        "explain_history": _explain(messages, history_q),
                        "explain_last_seq": _explain(messages, last_q),
                        "explain_replay": _explain(messages, replay_q),
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


# --- one long thread -----------------------------------------------------------------------------
LONG_BATCH = 1000


def _store(mongo: str, database: str) -> Any:
    from adapters import MongoStore
    from adapters._options import StoreOptions

    return MongoStore(StoreOptions(uri=mongo, write_majority=False, database=database))


def _message(thread: str, seq: int, run: str) -> Any:
    from protocol.events import MessageEvent

    return MessageEvent(
        thread_id=thread,
        seq=seq,
        message_id=f"{run}-{thread}-{seq}",
        sender_id="bench-filler",
        text=f"filler {seq} " + "x" * 90,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
    )


def _load_thread(store: Any, thread: str, first: int, last: int, run: str, limit_s: float) -> int:
    """Seqs first..last into `thread` through the store's batch write; the last seq stored."""

    async def load() -> int:
        await store.start()
        try:
            deadline = time.monotonic() + limit_s
            seq = first
            while seq <= last and time.monotonic() < deadline:
                upto = min(last, seq + LONG_BATCH - 1)
                batch = [_message(thread, k, run) for k in range(seq, upto + 1)]
                stored = await store.insert_new_messages(batch)
                if stored != len(batch):
                    raise BenchError(f"load of {thread}: {stored} of {len(batch)} stored at {seq}")
                seq = upto + 1
            return seq - 1
        finally:
            await store.close()

    return trio.run(load)


def _getter(http: httpx.Client, path: str, params: dict[str, int]) -> Callable[[], object]:
    return lambda: http.get(path, params=params).raise_for_status()


def _last_seqs(store: Any, threads: dict[str, int]) -> dict[str, int]:
    async def read() -> dict[str, int]:
        await store.start()
        try:
            return {t: await store.last_seq(t) for t in threads}
        finally:
            await store.close()

    return trio.run(read)


def _paired(
    pair: Sequence[tuple[str, Callable[[], object]]], queries: int, limit_s: float, at_least: int
) -> dict[str, Any]:
    """The two calls alternately (control first), as in `_interleaved`; quantiles and ratios."""
    samples: dict[str, list[float]] = {name: [] for name, _ in pair}
    failed: dict[str, list[str]] = {name: [] for name, _ in pair}
    deadline = time.monotonic() + limit_s
    done = 0
    while done < queries and (done < at_least or time.monotonic() < deadline):
        for name, call in pair:
            start = time.perf_counter()
            try:
                call()
            except httpx.HTTPError as exc:
                # A page that fails (the store's 10 s socket timeout: HTTP 500) is a figure
                # too: counted, and left out of the quantiles.
                failed[name].append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            samples[name].append(time.perf_counter() - start)
        done += 1
    return _compared(samples, failed)


def _compared(samples: dict[str, list[float]], failed: dict[str, list[str]]) -> dict[str, Any]:
    (lo_name, lo_s), (hi_name, hi_s) = samples.items()
    out: dict[str, Any] = {lo_name: quantiles(lo_s), hi_name: quantiles(hi_s)}
    for name, errors in failed.items():
        if errors:
            out[name] = {**out[name], "failed": len(errors), "first_error": errors[0]}
    lo, hi = out[lo_name], out[hi_name]
    if lo.get("count") and hi.get("count"):
        out["p50_ratio"] = round(hi["p50_ms"] / lo["p50_ms"], 2)
        out["p99_ratio"] = round(hi["p99_ms"] / lo["p99_ms"], 2)
    return out


def _store_paired(
    store: Any,
    threads: tuple[str, str],
    run: str,
    queries: int,
    limit_s: float,
    at_least: int,
) -> dict[str, Any]:
    """The store's last_seq and an assign_seq insert, alternately on the two threads."""
    timings: dict[str, dict[str, list[float]]] = {
        "store_last_seq": {"control_10k": [], "long": []},
        "store_insert_assign_seq": {"control_10k": [], "long": []},
    }
    failed: dict[str, dict[str, list[str]]] = {
        figure: {"control_10k": [], "long": []} for figure in timings
    }

    async def measure() -> None:
        await store.start()
        try:
            for figure in timings:
                deadline = time.monotonic() + limit_s
                done = 0
                while done < queries and (done < at_least or time.monotonic() < deadline):
                    for name, thread in zip(("control_10k", "long"), threads, strict=True):
                        start = time.perf_counter()
                        try:
                            if figure == "store_last_seq":
                                await store.last_seq(thread)
                            else:
                                one = _message(thread, 0, f"{run}-w{done}")
                                await store.insert_message(one, assign_seq=True)
                        except StoreError as exc:
                            failed[figure][name].append(f"{type(exc).__name__}: {exc}"[:200])
                            continue
                        timings[figure][name].append(time.perf_counter() - start)
                    done += 1
        finally:
            await store.close()

    trio.run(measure)
    return {figure: _compared(timings[figure], failed[figure]) for figure in timings}


def measure_long_thread(
    name: str,
    endpoints: tuple[str, str, str],
    sizes: Sequence[int],
    *,
    queries: int,
    query_limit_s: float,
    load_limit_s: float,
    min_queries: int = 3,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    after_load: Callable[[], float] = lambda: 0.0,
) -> list[dict[str, Any]]:
    kafka, mongo, issuer = endpoints
    out: list[dict[str, Any]] = []
    target = ParleyTarget(users=2, services=(kafka, mongo, issuer))
    try:
        control, long = target.new_threads(2, 2)
        token = target.tokens(1)[0]
        headers = {"Authorization": f"Bearer {token}"}
        api = f"http://127.0.0.1:{target.http['port']}"
        run = uuid.uuid4().hex[:6]
        with httpx.Client(base_url=api, headers=headers, timeout=120.0) as http:
            for thread in (control, long):
                for k in range(10):
                    resp = http.post(
                        "/api/messages",
                        json={
                            "thread_id": thread,
                            "text": f"history {k}",
                            "client_msg_id": f"{thread}-h{k}",
                        },
                    )
                    if resp.status_code != 202:
                        raise BenchError(f"POST /api/messages: HTTP {resp.status_code} {resp.text}")
                deadline = time.monotonic() + 60
                page = f"/api/threads/{thread}/messages"
                while len(http.get(page).json().get("messages", [])) < 10:
                    if time.monotonic() > deadline:
                        raise BenchError("the 10 messages were not stored within 60 s")
                    time.sleep(0.2)
            store = _store(mongo, target.database)
            top = {control: 10, long: 10}
            top[control] = _load_thread(store, control, 11, CONTROL_SIZE, run, load_limit_s)
            load_s = 0.0
            pages = {t: f"/api/threads/{t}/messages" for t in (control, long)}
            for size in sizes:
                started = time.monotonic()
                top[long] = _load_thread(
                    store, long, top[long] + 1, size, run, load_limit_s - load_s
                )
                load_s += time.monotonic() - started
                settle_s = after_load()

                def rest(params: Callable[[str], dict[str, int]]) -> dict[str, Any]:
                    calls = [
                        (label, _getter(http, pages[t], params(t)))
                        for label, t in (("control_10k", control), ("long", long))
                    ]
                    return _paired(calls, queries, query_limit_s, min_queries)

                row: dict[str, Any] = {
                    "backend": name,
                    "mode": "long-thread",
                    "target_size": size,
                    "stored": top[long],
                    "control_stored": top[control],
                    "load_s": round(load_s, 1),
                    "settle_s": round(settle_s, 1),
                    "rest_history_page": rest(lambda t: {}),
                    "rest_page_before_middle": rest(lambda t: {"before_seq": top[t] // 2}),
                    "rest_replay_after_middle": rest(lambda t: {"after_seq": top[t] // 2}),
                    **_store_paired(
                        store, (control, long), run, queries, query_limit_s, min_queries
                    ),
                }
                # The inserts measured took the next seqs of both threads.
                top.update(_last_seqs(store, top))
                print(orjson.dumps(row).decode(), file=sys.stderr, flush=True)
                out.append(row)
                on_row(row)
    finally:
        target.close()
    return out


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
        "--settle-limit-s",
        type=float,
        default=300.0,
        help="PostgreSQL: after loading, wait at most this long for autovacuum to finish",
    )
    p.add_argument(
        "--min-queries", type=int, default=3, help="requests per measurement even past the limit"
    )
    p.add_argument(
        "--long-thread",
        action="store_true",
        help="all messages in ONE thread, measured alternately with a 10,000-message thread",
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
        # The stack's own store is FerretDB on PostgreSQL with the GIN indexes of
        # `infra/postgres/indexes.sql`, exactly as `make run` and the tests have it.
        local = LocalServices(Ports.free(), Path(tmp) / "services")
        ends = local.start()
        try:
            for backend in args.backends.split(","):
                print(f"history_scale: {backend} ...", file=sys.stderr, flush=True)
                with contextlib.ExitStack() as stack:
                    after_load: Callable[[], float] = lambda: 0.0  # noqa: E731
                    if backend == "sqlite":
                        mongo = stack.enter_context(ferretdb_on_sqlite(Path(tmp) / "sqlite"))
                    elif backend == "postgresql":
                        pg = local.postgres
                        if pg is None:
                            raise BenchError("the stack runs with PARLEY_STORE_BACKEND=sqlite")
                        mongo = ends.mongo_uri
                        after_load = functools.partial(_settle, pg.psql, args.settle_limit_s)
                    else:
                        raise BenchError(f"unknown backend {backend!r}")
                    measure = measure_long_thread if args.long_thread else measure_backend
                    measure(
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
        if r.get("mode") == "long-thread":
            _print_long(r)
            continue
        rest = r["rest_history_page"]
        print(
            f"{r['backend']:10} stored {r['stored']:>9,}  REST page p50 "
            f"{rest.get('p50_ms', 0):9.1f} ms"
            f"  p99 {rest.get('p99_ms', 0):9.1f} ms (n={rest['count']})  replay p50 "
            f"{r['rest_replay_after_seq'].get('p50_ms', 0):9.1f} ms  p99 "
            f"{r['rest_replay_after_seq'].get('p99_ms', 0):9.1f} ms  store history p50 "
            f"{r['store_history_query'].get('p50_ms', 0):9.1f} ms  last-seq p50 "
            f"{r['store_last_seq_query'].get('p50_ms', 0):9.1f} ms  interleaved with 10k: p50 "
            f"x{r['interleaved_store_history']['p50_ratio']} p99 "
            f"x{r['interleaved_store_history']['p99_ratio']}"
        )
    print(f"history_scale: wrote {args.out}", file=sys.stderr)
    return 0


def _print_long(r: dict[str, Any]) -> None:
    print(f"{r['backend']:10} one thread of {r['stored']:>9,} vs {r['control_stored']:,}:")
    for figure in (
        "rest_history_page",
        "rest_page_before_middle",
        "rest_replay_after_middle",
        "store_last_seq",
        "store_insert_assign_seq",
    ):
        f = r[figure]
        lo, hi = f["control_10k"], f["long"]
        print(
            f"  {figure:26} p50 {lo.get('p50_ms', 0):8.1f} -> {hi.get('p50_ms', 0):8.1f} ms"
            f" (x{f.get('p50_ratio', '-')})  p99 {lo.get('p99_ms', 0):8.1f} ->"
            f" {hi.get('p99_ms', 0):8.1f} ms (x{f.get('p99_ratio', '-')})  n={hi['count']}"
            f" failed={hi.get('failed', 0)}"
        )


if __name__ == "__main__":
    sys.exit(main())
