"""`python -m bench.profile_rest`: where Parley's REST posting path spends its CPU.

Starts the local services and `parley serve` (as `make bench` does), drives closed-loop
`POST /api/messages` with the Python generator for `--duration` seconds, and samples the
server with py-spy meanwhile (`--gil`: only samples holding the GIL, i.e. Python work; idle
waits in the event loop are left out). Prints the share of samples per package (inclusive:
a sample counts for every package on its stack) and the top functions by own samples, and
keeps the collapsed stacks for a flame graph (`--out`).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._errors import BenchError
from bench._procs import run_generator
from bench._targets import ParleyTarget

__all__ = ["main", "own_by_package", "summarise_collapsed"]

# Package of a frame, from the file path py-spy prints: the first of these found in the path.
_PACKAGES = (
    "hypercorn",
    "quart_trio",
    "quart",
    "werkzeug",
    "h11",
    "wsproto",
    "pydantic",
    "jwt",
    "cryptography",
    "confluent_kafka",
    "pymongo",
    "orjson",
    "trio",
    "gateway",
    "adapters",
    "actors",
    "core",
    "protocol",
    "telemetry",
    "parley",
)


def _package(frame: str) -> str:
    # A frame reads "function (path/to/file.py:LINE)".
    path = frame.rsplit("(", 1)[-1]
    parts = path.replace("\\", "/").split("/")
    for part in parts:
        if part in _PACKAGES:
            return part
    return "other"


def summarise_collapsed(
    lines: Sequence[str], top: int = 15
) -> tuple[int, dict[str, float], list[tuple[str, float]]]:
    """(samples, package -> inclusive share, [(function, own share)]) of py-spy's raw output:
    one `frame;frame;...;leaf COUNT` line per distinct stack."""
    total, inclusive, own, _ = _count(lines)
    if total == 0:
        return 0, {}, []
    shares = {pkg: n / total for pkg, n in inclusive.most_common()}
    return total, shares, [(f, n / total) for f, n in own.most_common(top)]


def own_by_package(lines: Sequence[str]) -> dict[str, float]:
    """Package -> share of samples whose innermost frame is in it (where the CPU went)."""
    total, _, _, leaf = _count(lines)
    return {pkg: n / total for pkg, n in leaf.most_common()} if total else {}


def _count(
    lines: Sequence[str],
) -> tuple[int, collections.Counter[str], collections.Counter[str], collections.Counter[str]]:
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for pkg in {_package(f) for f in frames}:
            inclusive[pkg] += count
        own[frames[-1]] += count
        leaf[_package(frames[-1])] += count
    return total, inclusive, own, leaf


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_rest", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load and sampling")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--out", type=Path, default=None, help="keep the collapsed stacks here")
    p.add_argument(
        "--port",
        choices=("fast", "http"),
        default="fast",
        help="post to the fast listener (default, as make bench does) or to Hypercorn's port",
    )
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise BenchError("py-spy not installed: make install (it is a bench dependency)")
    with tempfile.TemporaryDirectory(prefix="parley-profile-") as tmp:
        raw = args.out or Path(tmp) / "rest.collapsed"
        target = ParleyTarget(users=16)
        try:
            job: dict[str, Any] = {
                "kind": "ingest_rest",
                "http": target.posting if args.port == "fast" else target.http,
                "connections": args.connections,
                "duration": args.duration,
                "warmup": 1.0,
                "tokens": target.tokens(16),
                "thread_ids": target.new_threads(1, 16),
            }
            result: dict[str, Any] = {}
            load = threading.Thread(
                target=lambda: result.update(run_generator(job, prefer="python")), daemon=True
            )
            load.start()
            subprocess.run(
                [
                    spy,
                    "record",
                    "--pid",
                    str(target.server_pid),
                    "--duration",
                    str(int(args.duration)),
                    "--rate",
                    str(args.rate),
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                ],
                check=True,
                capture_output=True,
                timeout=args.duration + 120,
            )
            load.join(args.duration + 120)
        finally:
            target.close()
        lines = raw.read_text().splitlines()
        total, shares, own = summarise_collapsed(lines)
        leaf = own_by_package(lines)
    print(f"REST posts accepted/s during the profile: {result.get('accepted_per_s', 0):.0f}")
    print(f"{total} samples holding the GIL; share per package (inclusive):")
    for pkg, share in shares.items():
        print(f"  {pkg:16} {share:6.1%}")
    print("share per package (own: the innermost frame):")
    for pkg, share in leaf.items():
        print(f"  {pkg:16} {share:6.1%}")
    print("top functions (own samples):")
    for frame, share in own:
        print(f"  {share:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
