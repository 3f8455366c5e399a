"""Smoke test of the bench harness at its tiny size: every scenario must produce numbers.

No timing is asserted (figures on a shared 2-core machine mean nothing at this size); what is
checked is that the harness, the generators and the peers still work together and that the
three result files are written in the documented shape.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from infra import Endpoints

REPO = Path(__file__).resolve().parents[2]
LOAD_SCENARIOS = ["fanout", "ingest", "e2e", "memory"]
KEYS = {"scenario", "metric", "value", "peer", "peer_value", "ratio", "unit", "spread"}


def _bench(out: Path, *args: str) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows: list[dict[str, object]] = orjson.loads((out / "latest.json").read_bytes())
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| scenario | metric | Parley |" in (out / "latest.md").read_text()
    return rows


def _numbers(rows: list[dict[str, object]], scenario: str, key: str) -> list[float]:
    found = [r[key] for r in rows if r["scenario"] == scenario and r[key] is not None]
    return [float(v) for v in found if isinstance(v, int | float) and math.isfinite(v)]


def test_peers_and_generator_ceiling_produce_numbers(tmp_path: Path) -> None:
    rows = _bench(tmp_path, "--targets", "peer,ceiling", "--scenarios", ",".join(LOAD_SCENARIOS))
    assert all(set(r) >= KEYS for r in rows)
    for scenario in LOAD_SCENARIOS:
        assert _numbers(rows, scenario, "peer_value"), scenario
    # The generator measured its own ceiling against the no-op server.
    assert _numbers(rows, "fanout", "ceiling")
    assert _numbers(rows, "ingest", "ceiling")
    delivered = [r for r in rows if r["scenario"] == "fanout" and r["metric"] == "delivered"]
    assert delivered[0]["peer_value"] == 1.0


@pytest.mark.skipif(
    not (REPO / "bench" / "actors_bench.py").exists(), reason="bench/actors_bench.py not there"
)
def test_actor_runtime_figures(tmp_path: Path) -> None:
    rows = _bench(tmp_path, "--scenarios", "actors")
    assert _numbers(rows, "actors", "value")


@pytest.mark.integration
def test_parley_scenarios_produce_numbers(tmp_path: Path, services: Endpoints) -> None:
    rows = _bench(
        tmp_path,
        "--targets",
        "parley,peer",
        "--scenarios",
        ",".join(LOAD_SCENARIOS),
        "--rounds",
        "1",
        "--kafka",
        services.kafka_bootstrap,
        "--mongo-uri",
        services.mongo_uri,
        "--oidc-issuer",
        services.oidc_issuer,
    )
    for scenario in LOAD_SCENARIOS:
        assert _numbers(rows, scenario, "value"), scenario
        assert _numbers(rows, scenario, "ratio"), scenario
    # Fan-out sends at the server's pace, so every message must reach every client; the
    # end-to-end run keeps a fixed rate and may drop what a slow server cannot take in time.
    fanout = [r for r in rows if r["scenario"] == "fanout" and r["metric"] == "delivered"]
    assert fanout[0]["value"] == 1.0
    e2e = [r for r in rows if r["scenario"] == "e2e" and r["metric"] == "delivered"]
    assert isinstance(e2e[0]["value"], float) and e2e[0]["value"] > 0
    # Beside the Go peer, a second fixed rate with CPU per message (the app's and the
    # generator's here: the services are the test session's, so their CPU is not counted).
    moderate = {str(r["metric"]) for r in rows if r["scenario"] == "e2e-moderate"}
    assert {"p99 at 25 msg/s", "CPU per message, app at 25 msg/s"} <= moderate, moderate


@pytest.mark.integration
def test_plugins_scenario_produces_numbers(tmp_path: Path, services: Endpoints) -> None:
    """A Parley with a busy-looping plugin against one without, and the hook overhead."""
    rows = _bench(
        tmp_path,
        "--targets",
        "parley",
        "--scenarios",
        "plugins",
        "--rounds",
        "1",
        "--kafka",
        services.kafka_bootstrap,
        "--mongo-uri",
        services.mongo_uri,
        "--oidc-issuer",
        services.oidc_issuer,
    )
    plugins = {r["metric"]: r for r in rows if r["scenario"] == "plugins"}
    overhead = [m for m in plugins if m.startswith("hook overhead ")]
    assert sorted(m.split(",")[0] for m in overhead) == ["hook overhead p50", "hook overhead p99"]
    assert all(_numbers([plugins[m]], "plugins", "value") for m in overhead)
    compared = [r for r in plugins.values() if r["peer"] == "parley, no plugin"]
    assert {str(r["metric"]).split(" at ")[0] for r in compared} >= {"e2e p50", "e2e p99"}
    assert any(str(m).startswith("e2e max rate") for m in plugins)
    assert _numbers(compared, "plugins", "ratio")


@pytest.mark.integration
def test_assistants_scenario_produces_numbers(tmp_path: Path, services: Endpoints) -> None:
    """Turns through Parley against the model alone, and the chat with turns streaming."""
    rows = _bench(
        tmp_path,
        "--targets",
        "parley",
        "--scenarios",
        "assistants",
        "--rounds",
        "1",
        "--kafka",
        services.kafka_bootstrap,
        "--mongo-uri",
        services.mongo_uri,
        "--oidc-issuer",
        services.oidc_issuer,
    )
    assist = {(r["metric"], r["peer"]): r for r in rows if r["scenario"] == "assistants"}
    for q in ("p50", "p99"):
        assert _numbers(
            [assist[(f"time to first token {q}", "model direct")]], "assistants", "ratio"
        )
    chat = [r for r in assist.values() if str(r["metric"]).startswith("e2e p99 at")]
    assert {r["peer"] for r in chat} == {"parley, no turns", "parley, 4 streams model-direct"}
    assert _numbers(chat, "assistants", "ratio")
    notes = orjson.loads((tmp_path / "latest-meta.json").read_bytes())["notes"]
    # The direct request reproduced Parley's prompt: the same reply to the same question.
    assert any("warm-up replies identical" in n for n in notes), notes
