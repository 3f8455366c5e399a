"""What a bench run does: sizes, durations, rounds, scenarios and targets, from the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["GENERATORS", "SCENARIOS", "TARGETS", "BenchConfig", "parse_args"]

SCENARIOS = ("fanout", "ingest", "e2e", "memory", "actors", "plugins", "assistants")
# parley: the server under test; peer: the reference servers; ceiling: the generator against
# the no-op server. `--targets peer,ceiling` needs no Kafka, store or provider.
TARGETS = ("parley", "peer", "ceiling")
GENERATORS = ("go", "python")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    scenarios: tuple[str, ...] = SCENARIOS
    targets: tuple[str, ...] = TARGETS
    rounds: int = 3
    out: Path = RESULTS_DIR
    tiny: bool = False
    # "go": the Go generator (bench/loadgen_go) for the kinds it speaks, if it builds;
    # "python": the Python generator for every job
    generator: str = "go"
    # fan-out
    fanout_clients: int = 200
    fanout_messages: int = 500
    fanout_window: int = 64
    # ingest
    ingest_connections: int = 50
    ingest_ws_window: int = 8
    duration_s: float = 3.0
    # end-to-end
    e2e_rate: float = 1000.0
    e2e_clients: int = 1000
    e2e_thread_size: int = 10
    e2e_duration_s: float = 5.0
    e2e_p99_goal_ms: float = 50.0
    # Between the e2e fleet's last subscribe and the first POST: each run connects a fresh
    # fleet, and that storm is not what the run measures. With 1 s every leg of the first
    # second of a 3-s search step was slow after 1,000 connects, not after 100 (bench.e2e_trace).
    # One part stays whatever the settle: nothing allocates while the fleet waits, so Parley's
    # young-generation collection of the new connections' objects (16-36 ms) comes with the
    # step's first messages.
    e2e_settle_s: float = 3.0
    # A second fixed-rate comparison near where Parley's max-rate search lands, with CPU per
    # message for each process: at low rates nothing batches, so the stack's cost per message
    # is several times its cost at e2e_rate, and that is what the search runs into (0 = skip).
    e2e_moderate_rate: float = 125.0
    search_start_rate: float = 250.0
    search_max_rate: float = 16000.0
    search_steps: int = 8
    search_duration_s: float = 3.0
    # assistants: first-token rounds per side; the chat's rate while turns stream
    assist_turns: int = 20
    assist_e2e_rate: float = 200.0
    # memory
    idle_connections: int = 10_000
    idle_threads: int = 1000
    # soak (`--soak`, not in the default scenarios): clients in threads of e2e_thread_size
    soak_clients: int = 10_000
    soak_rate: float = 100.0
    soak_minutes: float = 10.0
    soak_interval_s: float = 10.0
    # plugins: the plugin host's PARLEY_PLUGIN_CPU_PRIORITY (low, idle, normal); "" = the
    # bench's environment's, else Parley's default (low)
    plugin_cpu_priority: str = ""
    # users the Parley clients log in as (tokens are fetched once per user)
    users: int = 16
    # Already running services (all three, or none: then the bench starts its own)
    kafka_bootstrap: str = ""
    mongo_uri: str = ""
    oidc_issuer: str = ""

    @property
    def e2e_threads(self) -> int:
        return max(1, self.e2e_clients // self.e2e_thread_size)


TINY = BenchConfig(
    rounds=2,
    tiny=True,
    fanout_clients=10,
    fanout_messages=20,
    ingest_connections=4,
    duration_s=0.3,
    e2e_rate=50.0,
    e2e_clients=20,
    e2e_thread_size=5,
    e2e_duration_s=0.5,
    e2e_moderate_rate=25.0,
    e2e_settle_s=0.2,
    search_start_rate=50.0,
    search_max_rate=200.0,
    search_steps=2,
    search_duration_s=0.3,
    idle_connections=50,
    idle_threads=10,
    users=2,
    assist_turns=4,
    assist_e2e_rate=50.0,
)


def _csv(value: str, allowed: Sequence[str]) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(allowed)}")
    return items


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Parley's benchmarks, side by side with reference peers in the same run.",
    )
    p.add_argument("--tiny", action="store_true", help="smallest sizes (CI smoke run)")
    p.add_argument(
        "--scenarios",
        type=lambda v: _csv(v, SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    p.add_argument(
        "--targets",
        type=lambda v: _csv(v, TARGETS),
        help="comma-separated subset of parley,peer,ceiling (default: all)",
    )
    p.add_argument("--rounds", type=int, help="alternating rounds per scenario")
    p.add_argument(
        "--generator",
        choices=GENERATORS,
        help="load generator: go (bench/loadgen_go, for fan-out; falls back to python when "
        "it does not build) or python (default go)",
    )
    p.add_argument("--out", type=Path, help="results folder (default bench/results)")
    p.add_argument("--duration", type=float, dest="duration_s", help="ingest seconds per run")
    p.add_argument("--clients", type=int, dest="fanout_clients", help="fan-out subscribers")
    p.add_argument("--messages", type=int, dest="fanout_messages", help="fan-out messages")
    p.add_argument("--connections", type=int, dest="ingest_connections", help="ingest conns")
    p.add_argument("--e2e-rate", type=float, dest="e2e_rate", help="messages/s (fixed rate)")
    p.add_argument("--e2e-clients", type=int, dest="e2e_clients", help="connected clients")
    p.add_argument("--e2e-thread-size", type=int, dest="e2e_thread_size", help="clients/thread")
    p.add_argument("--e2e-duration", type=float, dest="e2e_duration_s", help="seconds")
    p.add_argument(
        "--e2e-settle",
        type=float,
        dest="e2e_settle_s",
        help="seconds between the e2e fleet's last subscribe and the first POST",
    )
    p.add_argument(
        "--e2e-moderate-rate",
        type=float,
        dest="e2e_moderate_rate",
        help="messages/s of the second fixed-rate comparison, with CPU per message (0 = skip)",
    )
    p.add_argument("--search-steps", type=int, dest="search_steps", help="max-rate search steps")
    p.add_argument(
        "--search-duration", type=float, dest="search_duration_s", help="seconds per step"
    )
    p.add_argument("--kafka", dest="kafka_bootstrap", help="use this Kafka (with the next two)")
    p.add_argument("--mongo-uri", dest="mongo_uri", help="use this MongoDB/FerretDB")
    p.add_argument("--oidc-issuer", dest="oidc_issuer", help="use this OIDC provider")
    p.add_argument("--assist-turns", type=int, dest="assist_turns", help="assistant turns per side")
    p.add_argument(
        "--assist-e2e-rate",
        type=float,
        dest="assist_e2e_rate",
        help="messages/s of the chat while assistant turns stream",
    )
    p.add_argument(
        "--plugin-cpu-priority",
        choices=("low", "idle", "normal"),
        dest="plugin_cpu_priority",
        help="plugins scenario: the plugin host's CPU priority (PARLEY_PLUGIN_CPU_PRIORITY; "
        "default: as in the environment, else Parley's default, low = nice 19)",
    )
    p.add_argument("--idle-connections", type=int, dest="idle_connections")
    p.add_argument("--idle-threads", type=int, dest="idle_threads")
    p.add_argument(
        "--soak",
        action="store_true",
        help="run only the soak scenario (bench/_soak.py); results in bench/results/soak/",
    )
    p.add_argument("--soak-clients", type=int, dest="soak_clients", help="connected clients")
    p.add_argument("--soak-rate", type=float, dest="soak_rate", help="messages/s")
    p.add_argument("--soak-minutes", type=float, dest="soak_minutes", help="minutes")
    p.add_argument("--soak-interval", type=float, dest="soak_interval_s", help="s per sample")
    args = p.parse_args(argv)
    base = TINY if args.tiny else BenchConfig()
    overrides = {
        k: v for k, v in vars(args).items() if v is not None and k != "tiny" and k in _FIELDS
    }
    if args.soak:  # a long run of its own: never mixed into the table the README quotes
        overrides.setdefault("scenarios", ("soak",))
        overrides.setdefault("out", RESULTS_DIR / "soak")
    return replace(base, **overrides)


_FIELDS = set(BenchConfig.__dataclass_fields__)
