"""`python -m bench`: run the selected scenarios and write bench/results/latest.{json,md,png}."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from bench._assistants import run_assistants
from bench._config import RESULTS_DIR, BenchConfig, parse_args
from bench._e2e import run_e2e
from bench._errors import BenchError
from bench._memory import run_actors, run_memory
from bench._plugins import run_plugins
from bench._report import update_readme, write_chart, write_markdown
from bench._results import Results, machine_info, summarise, write_json
from bench._scenarios import Bench
from bench._soak import run_soak
from bench._targets import PARLEY_BENCH_ENV, REPO, ParleyTarget, Target

__all__ = ["main", "run"]

_NEEDS_SERVER = {"fanout", "ingest", "e2e", "memory", "plugins", "soak"}
# Scenarios that start their Parley themselves (with settings of their own) on the services
_NEEDS_SERVICES = _NEEDS_SERVER | {"assistants"}


def _runners(bench: Bench) -> dict[str, Callable[[], None]]:
    return {
        "fanout": bench.fanout,
        "ingest": bench.ingest,
        "e2e": lambda: run_e2e(bench),
        "memory": lambda: run_memory(bench),
        "actors": lambda: run_actors(bench),
        "plugins": lambda: run_plugins(bench),
        "assistants": lambda: run_assistants(bench),
        "soak": lambda: run_soak(bench),
    }


def run(cfg: BenchConfig) -> Results:
    """Run every selected scenario; a scenario that fails is recorded, the others still run.

    Each scenario gets a Parley of its own (fresh process, fresh database) on one set of
    services, as each peer is started per scenario: no scenario inherits another's backlog,
    heap or stored messages (memory per idle connection needs a fresh baseline anyway).
    """
    results = Results()
    with contextlib.ExitStack() as stack:
        services: _Services | None = None
        if "parley" in cfg.targets and _NEEDS_SERVICES & set(cfg.scenarios):
            try:
                services = stack.enter_context(_services(cfg))
            except Exception as exc:  # infra failure: record it, peers still run
                results.errors["parley"] = f"could not start services: {type(exc).__name__}: {exc}"
        for name in cfg.scenarios:
            started = time.monotonic()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            _run_scenario(cfg, results, name, services)
            print(
                f"bench: {name} done in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return results


# (Kafka bootstrap, MongoDB URI, OIDC issuer), and the pids of the own stack by service name
# (kafka, ferretdb, oidc): watched for quiet and charged in CPU per message
_Services = tuple[tuple[str, str, str], dict[str, int]]


@contextlib.contextmanager
def _services(cfg: BenchConfig) -> Iterator[_Services]:
    """The given Kafka/MongoDB/OIDC, or a local stack started for this run and stopped after."""
    given = (cfg.kafka_bootstrap, cfg.mongo_uri, cfg.oidc_issuer)
    if all(given):
        yield given, {}
        return
    from infra import LocalServices, Ports

    with tempfile.TemporaryDirectory(prefix="parley-bench-services-") as state:
        local = LocalServices(Ports.free(), Path(state))
        try:
            ends = local.start()
            pids = {svc.name: pid for svc in local.services if (pid := svc.pid()) is not None}
            yield (ends.kafka_bootstrap, ends.mongo_uri, ends.oidc_issuer), pids
        finally:
            local.stop()


def _run_scenario(
    cfg: BenchConfig, results: Results, name: str, services: _Services | None
) -> None:
    parley: Target | None = None
    try:
        if services is not None and name in _NEEDS_SERVER:
            try:
                parley = ParleyTarget(cfg.users, services[0], list(services[1].values()))
            except Exception as exc:  # the server did not start: the peers still run
                results.errors[f"{name}: parley"] = (
                    f"could not start Parley: {type(exc).__name__}: {exc}"
                )
        shared = services[1] if services is not None else {}
        ends = services[0] if services is not None else None
        _runners(Bench(cfg, results, parley, shared, ends))[name]()
    except BenchError as exc:
        results.errors[name] = str(exc)
    except Exception as exc:  # e.g. the server died mid-scenario: keep the others
        results.errors[name] = f"{type(exc).__name__}: {exc}"
    finally:
        if parley is not None:
            parley.close()


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    load_before = "/".join(f"{x:.2f}" for x in os.getloadavg())
    results = run(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": machine_info(),
        "load_before": load_before,
        "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        "sizes": _sizes(cfg),
        "parley_env": ", ".join(f"{k}={v}" for k, v in PARLEY_BENCH_ENV.items())
        + " (people's limits lifted for the load generator); everything else default",
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    write_json(cfg.out / "latest.json", results, meta)
    write_markdown(cfg.out / "latest.md", results, meta)
    write_chart(cfg.out / "latency.png", results)
    # Only a run into the project's own results folder speaks for the README.
    if cfg.out.resolve() == RESULTS_DIR and update_readme(
        REPO / "README.md", cfg.out / "latest.md"
    ):
        print("bench: README table updated", file=sys.stderr)
    for row in results.rows:
        value, _ = summarise(row.values)
        peer_value, _ = summarise(row.peer_values)
        print(
            f"{row.scenario:7} {row.metric:40} {value if value is not None else '-':>12.6} "
            f"{row.peer or '':18} {peer_value if peer_value is not None else '-':>12.6} {row.unit}"
        )
    for name, err in results.errors.items():
        print(f"bench: {name}: {err}", file=sys.stderr)
    print(f"bench: wrote {cfg.out}/latest.json, latest.md, latency.png", file=sys.stderr)
    return 1 if results.errors else 0


def _sizes(cfg: BenchConfig) -> str:
    return (
        f"rounds {cfg.rounds}; fan-out {cfg.fanout_clients} clients x {cfg.fanout_messages} "
        f"messages (window {cfg.fanout_window}); ingest {cfg.ingest_connections} connections x "
        f"{cfg.duration_s:g} s (WS window {cfg.ingest_ws_window}); e2e {cfg.e2e_rate:g} msg/s, "
        f"{cfg.e2e_clients} clients in threads of {cfg.e2e_thread_size}, "
        f"{cfg.e2e_duration_s:g} s; search from {cfg.search_start_rate:g} msg/s, "
        f"<= {cfg.search_steps} steps of {cfg.search_duration_s:g} s; "
        f"idle {cfg.idle_connections} connections, {cfg.idle_threads} threads; "
        f"assistants {cfg.assist_turns} turns per side, chat {cfg.assist_e2e_rate:g} msg/s"
        + (
            f"; soak {cfg.soak_clients} clients, {cfg.soak_rate:g} msg/s, {cfg.soak_minutes:g} min"
            if "soak" in cfg.scenarios
            else ""
        )
    )
