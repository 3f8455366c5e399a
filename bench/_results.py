"""Figures of a run: one `Row` per (scenario, metric), written as JSON, Markdown and a chart."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Results", "Row", "machine_info", "summarise"]


def summarise(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Median and spread ((max - min) / median) of the per-round values."""
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return None, None
    med = statistics.median(vals)
    spread = (max(vals) - min(vals)) / med if med else 0.0
    return med, spread


@dataclass
class Row:
    scenario: str
    metric: str
    unit: str
    better: str  # "higher" or "lower": how to read the ratio
    values: list[float]
    peer: str | None = None
    peer_values: list[float] = field(default_factory=list)
    ceiling: float | None = None  # the generator against the no-op server
    note: str = ""
    # [[seconds, value], ...]: how the figure moved over a long run (the soak's samples)
    series: list[list[float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        value, spread = summarise(self.values)
        peer_value, peer_spread = summarise(self.peer_values)
        ratio = value / peer_value if value is not None and peer_value else None
        d = asdict(self)
        d.update(
            value=value,
            spread=spread,
            peer_value=peer_value,
            peer_spread=peer_spread,
            ratio=ratio,
            rounds=len(self.values),
        )
        return d


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # name -> (label, latency quantiles in seconds) for the chart
    distributions: dict[str, list[tuple[str, list[float]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # job kind -> "go" or "python": which load generator measured it
    generators: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def by_scenario(self, scenario: str) -> list[Row]:
        return [r for r in self.rows if r.scenario == scenario]


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import confluent_kafka

        librdkafka = confluent_kafka.libversion()[0]
    except ImportError:
        librdkafka = "-"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        # Other work on the machine skews every figure: say how busy it was.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "versions": {
            d: _version(d)
            for d in (
                "parley",
                "trio",
                "hypercorn",
                "quart-trio",
                "confluent-kafka",
                "pymongo",
                "websockets",
                "uvicorn",
                "starlette",
                "httptools",
            )
        }
        | {"librdkafka": librdkafka},
    }


def write_json(path: Path, results: Results, meta: dict[str, Any]) -> None:
    doc = [r.as_dict() for r in results.rows]
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    (path.parent / "latest-meta.json").write_bytes(
        orjson.dumps(
            {
                **meta,
                "generators": results.generators,
                "errors": results.errors,
                "notes": results.notes,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
