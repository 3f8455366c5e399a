"""`python -m bench.e2e_trace`: which leg of the end-to-end path a latency stall is on.

Starts the local services and `parley serve` (as `make bench` does), runs the e2e job of
`make bench` at one rate with per-message tracing, and prints, per leg, the distribution of
seconds after each message was due:

- sent: the generator wrote the POST (its own lag),
- answered: the 202 came back (Kafka has the command),
- first / last delivered: the first and the last subscriber got the frame;

then the slowest messages with each leg, and the server's own three legs (accepted → stored →
queued to the subscribers, its Prometheus histograms) over the same run. A stall that shows in
"answered" is on the accept path; one between "answered" and the server's "stored" is the
core's; one after is the fan-out's or the generator's.
"""

from __future__ import annotations

import argparse
import math
import re
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from bench._config import BenchConfig
from bench._procs import run_generator
from bench._targets import ParleyTarget

__all__ = ["histogram_delta", "leg_summary", "main", "parse_histograms"]

_LEGS = ("sent", "answered", "first delivered", "last delivered")
_SERVER_LEGS = (
    "parley_accepted_to_stored_seconds",
    "parley_stored_to_delivered_seconds",
    "parley_end_to_end_seconds",
)
_BUCKET = re.compile(r'^(parley_\w+_seconds)_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)


def parse_histograms(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, le, count in _BUCKET.findall(text):
        out.setdefault(name, {})[le] = float(count)
    return out


def histogram_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, list[tuple[str, float]]]:
    """Per histogram, the count of observations that fell in each bucket between two scrapes
    (cumulative `le` counts differenced, then de-accumulated)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for name, buckets in after.items():
        prior = before.get(name, {})
        cumulative = sorted(
            ((le, count - prior.get(le, 0.0)) for le, count in buckets.items()),
            key=lambda item: math.inf if item[0] == "+Inf" else float(item[0]),
        )
        rows, below = [], 0.0
        for le, count in cumulative:
            rows.append((le, count - below))
            below = count
        out[name] = rows
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def leg_summary(trace: list[list[Any]]) -> dict[str, dict[str, float]]:
    """p50/p90/p99/max per leg, in ms, of the rows `[k, sent, answered, first, last]`."""
    out = {}
    for i, leg in enumerate(_LEGS, start=1):
        values = [row[i] for row in trace if row[i] is not None]
        out[leg] = {
            f"p{round(q * 100)}" if q < 1 else "max": _percentile(values, q) * 1000
            for q in (0.5, 0.9, 0.99, 1.0)
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_trace", description=__doc__)
    parser.add_argument("--rate", type=float, default=16.0, help="messages/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--thread-size", type=int, default=10, help="clients per thread")
    parser.add_argument("--runs", type=int, default=1, help="runs on the same server")
    parser.add_argument("--slowest", type=int, default=15, help="slowest messages to list")
    parser.add_argument(
        "--settle",
        type=float,
        default=BenchConfig().e2e_settle_s,
        help="seconds after subscribing (default: make bench's)",
    )
    parser.add_argument("--kafka", default="", help="use this Kafka (with the next two)")
    parser.add_argument("--mongo-uri", default="", help="use this MongoDB/FerretDB")
    parser.add_argument("--oidc-issuer", default="", help="use this OIDC provider")
    args = parser.parse_args(argv)
    users = 20
    services = (args.kafka, args.mongo_uri, args.oidc_issuer)
    parley = ParleyTarget(users, services if all(services) else None)
    try:
        metrics_url = f"http://{parley.http['host']}:{parley.http['port']}/metrics"
        for run in range(args.runs):
            threads = parley.new_threads(max(1, args.clients // args.thread_size), users)
            before = parse_histograms(httpx.get(metrics_url, timeout=10).text)
            job = {
                "kind": "e2e",
                "ws": parley.ws,
                "http": parley.posting,
                "clients": args.clients,
                "thread_ids": threads,
                "rate": args.rate,
                "duration": args.duration,
                "run_id": f"t{run}{uuid.uuid4().hex[:6]}",
                "tokens": parley.tokens(users),
                "connections": min(256, max(16, int(args.rate / 8))),
                "drain_s": 5.0,
                "settle_s": args.settle,
                "trace": True,
            }
            result = run_generator(job, prefer="python")
            after = parse_histograms(httpx.get(metrics_url, timeout=10).text)
            _report(run, result, histogram_delta(before, after), args.slowest)
    finally:
        parley.close()
    return 0


def _report(
    run: int, result: dict[str, Any], server: dict[str, list[tuple[str, float]]], slowest: int
) -> None:
    trace: list[list[Any]] = result.get("trace", [])
    print(
        f"\n== run {run}: {result.get('rate')} msg/s, sent {result.get('sent')}, "
        f"accepted {result.get('accepted')}, missing {result.get('missing')}, "
        f"p99 {result.get('latency', {}).get('p99', math.nan) * 1000:.1f} ms"
    )
    for leg, figures in leg_summary(trace).items():
        print(f"  {leg:>16}: " + "  ".join(f"{k} {v:7.1f}" for k, v in figures.items()))
    t0 = float(result.get("t0_unix", 0.0))
    rate = float(result.get("rate", 1.0))
    print("  by second of the run (last delivered: p50 / max ms):")
    seconds: dict[int, list[float]] = {}
    for row in trace:
        if row[4] is not None:
            seconds.setdefault(int(row[0] / rate), []).append(row[4] * 1000)
    print(
        "    "
        + "  ".join(
            f"{second}s {_percentile(values, 0.5):.0f}/{max(values):.0f}"
            for second, values in sorted(seconds.items())
        )
    )
    worst = sorted(
        (row for row in trace if row[4] is not None), key=lambda row: row[4], reverse=True
    )
    print(f"  slowest {slowest} (k, due at unix s, then each leg in ms after due):")
    for row in worst[:slowest]:
        due = t0 + row[0] / rate
        legs = "  ".join(
            f"{name.split()[0][:5]} {'-' if v is None else f'{v * 1000:6.1f}'}"
            for name, v in zip(_LEGS, row[1:], strict=True)
        )
        print(f"    {row[0]:5d} {due:.3f}  {legs}")
    for name in _SERVER_LEGS:
        rows = [f"<={le} {int(count)}" for le, count in server.get(name, []) if count]
        print(f"  server {name.removeprefix('parley_')}: " + ", ".join(rows))


if __name__ == "__main__":
    raise SystemExit(main())
