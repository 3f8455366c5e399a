"""Prometheus, the real one (Debian's 2.42), scrapes a running Parley with the project's rules
loaded, and the recording rule gives the end-to-end p99; the dashboard asks only for series
that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import find_free_port
from telemetry import Metrics
from tests.support.server import REPO, ParleyProcess

RULES = REPO / "ops" / "prometheus" / "rules.yml"
DASHBOARD = REPO / "ops" / "prometheus" / "grafana-dashboard.json"
_WAIT_S = 60.0


def _recorded_names() -> set[str]:
    return set(re.findall(r"^\s+- record: (\S+)$", RULES.read_text(), re.M))


def test_the_dashboard_asks_only_for_recorded_or_exported_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = Metrics()
    exported = {
        sample.name for family in metrics.registry.collect() for sample in family.samples
    } | {family.name for family in metrics.registry.collect()}
    known = exported | _recorded_names() | {"up"}
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    for expr in exprs:
        # Ranges and grouping labels out; what is left and is not a function call is a series.
        bare = re.sub(r"\[[^\]]*\]|\bby \([^)]*\)", "", expr)
        names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?![a-zA-Z0-9_:(])", bare))
        assert names <= known, (expr, names - known)


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus missing: `make install` installs Debian's package")
    return found


@pytest.mark.integration
def test_prometheus_scrapes_parley_and_records_the_e2e_p99(
    server: ParleyProcess, tokens: dict[str, str], prometheus_binary: str, tmp_path: Path
) -> None:
    port = find_free_port()
    target = server.http_url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES}\n"
        "scrape_configs:\n  - job_name: parley\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    with _prometheus(prometheus_binary, config, port, tmp_path) as api:
        headers = {"Authorization": f"Bearer {tokens['alice']}"}
        with httpx.Client(base_url=server.http_url, headers=headers, timeout=10) as http:
            thread = http.post("/api/threads", json={"title": "metrics", "members": []})
            assert thread.status_code == 201, thread.text
            thread_id = thread.json()["thread_id"]
            deadline = time.monotonic() + _WAIT_S
            p99: float | None = None
            sent = 0
            while p99 is None:
                assert time.monotonic() < deadline, f"no p99 after {sent} messages"
                for _ in range(5):
                    answer = http.post(
                        "/api/messages", json={"thread_id": thread_id, "text": f"m{sent}"}
                    )
                    assert answer.status_code == 202, answer.text
                    sent += 1
                time.sleep(0.5)
                p99 = _scalar(api, "parley:end_to_end_seconds:p99")
            assert 0.0 < p99 < 30.0
        up = api.get("/api/v1/query", params={"query": 'up{job="parley"}'}).json()
        assert up["data"]["result"][0]["value"][1] == "1"
        lag = _scalar(api, "parley:consumer_lag:sum")
        assert lag is not None
        rules = api.get("/api/v1/rules").json()["data"]["groups"]
        assert {g["name"] for g in rules} == {"parley-recording", "parley-alerts"}
        assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules


def _scalar(api: httpx.Client, query: str) -> float | None:
    answer = api.get("/api/v1/query", params={"query": query})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if value != value else value  # NaN: no rate yet


@contextmanager
def _prometheus(binary: str, config: Path, port: int, tmp_path: Path) -> Iterator[httpx.Client]:
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
            deadline = time.monotonic() + _WAIT_S
            while True:
                assert proc.poll() is None, log.read_text()[-2000:]
                try:
                    if api.get("/-/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
            yield api
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
