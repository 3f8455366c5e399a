"""CPU per message (bench/_cpu.py) and the generator's window marks (bench/_procs.py): the
arithmetic, the process groups a target is charged for, and the harness sampling at the marks
the generator sends. No timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import _procs
from bench._cpu import STACK, CpuWindow, cpu_seconds, per_message
from bench._errors import BenchError
from bench._scenarios import cpu_groups, cpu_metrics, messages_delivered
from bench._targets import Target


def test_per_message_divides_each_group_and_sums_them() -> None:
    before = {"app": 1.0, "kafka": 2.0, "generator": 0.0}
    after = {"app": 1.5, "kafka": 2.25, "generator": 0.25}
    got = per_message(before, after, messages=250)
    assert got == pytest.approx({"app": 2.0, "kafka": 1.0, "generator": 1.0, STACK: 4.0})


def test_per_message_is_empty_without_messages() -> None:
    assert per_message({"app": 1.0}, {"app": 2.0}, messages=0) == {}


def test_per_message_skips_a_group_sampled_only_once() -> None:
    got = per_message({"app": 1.0}, {"app": 2.0, "generator": 5.0}, messages=1000)
    assert got == pytest.approx({"app": 1.0, STACK: 1.0})


def test_per_message_never_negative() -> None:
    # A process that died and was replaced by a fresh pid reads lower the second time.
    assert per_message({"app": 3.0}, {"app": 1.0}, messages=10) == {"app": 0.0, STACK: 0.0}


def test_cpu_seconds_reads_this_process_and_ignores_gone_pids() -> None:
    assert cpu_seconds([os.getpid()]) > 0
    assert cpu_seconds([2**22 + 7]) == 0.0  # above the kernel's pid_max: never a process


def test_window_needs_both_edges() -> None:
    window = CpuWindow({"app": [os.getpid()]})
    window.mark("stop")  # a stop before any start is ignored
    assert not window.complete and window.per_message(10) == {}
    window.mark("start")
    window.mark("bogus")
    window.mark("stop")
    assert window.complete
    assert set(window.per_message(10)) == {"app", STACK}


def test_target_groups_label_services_by_role() -> None:
    target = Target(name="t", ws={}, http={}, server_pid=11, app_pids=[11, 12])
    groups = cpu_groups(target, {"kafka": 21, "ferretdb": 22, "oidc": 23})
    assert groups == {"app": [11, 12], "kafka": [21], "store": [22], "oidc": [23]}
    bare = Target(name="b", ws={}, http={}, server_pid=5, own_services={"ferretdb": 9})
    assert cpu_groups(bare, {}) == {"app": [5], "store": [9]}


def test_postgres_is_charged_to_the_store_with_its_backend_processes() -> None:
    # PostgreSQL works in child processes (one backend per connection): a child of ours
    # stands in for one, read from the real /proc.
    child = subprocess.Popen(["sleep", "30"])
    try:
        groups = cpu_groups(
            Target(name="t", ws={}, http={}, server_pid=11),
            {"ferretdb": 22, "postgres": os.getpid()},
        )
        assert groups["store"][:2] == [22, os.getpid()]
        assert child.pid in groups["store"]
    finally:
        child.kill()
        child.wait()


def test_messages_delivered_by_job_kind() -> None:
    assert messages_delivered({"messages_delivered": 7, "accepted": 9}) == 7
    assert messages_delivered({"accepted": 9}) == 9
    assert messages_delivered({"acked": 4}) == 4
    assert messages_delivered({}) == 0


def test_cpu_metrics_follow_the_groups_measured_in_a_fixed_order() -> None:
    runs = [{"cpu_ms_per_msg": {"generator": 1.0, STACK: 3.0, "app": 2.0}}, {}]
    metrics = cpu_metrics(runs, ", REST")
    assert [m.name for m in metrics] == [
        "CPU per message, app, REST",
        "CPU per message, generator, REST",
        "CPU per message, all processes summed, REST",
    ]
    assert metrics[0].get(runs[0]) == 2.0
    assert metrics[0].get(runs[1]) != metrics[0].get(runs[1])  # NaN: not measured


_FAKE_GENERATOR = """
import sys, time
print('{"window": "start"}', flush=True)
t = time.process_time()
while time.process_time() - t < 0.05:
    pass
print('{"window": "stop"}', flush=True)
print('{"accepted": 10}')
"""


def _fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: str) -> None:
    script = tmp_path / "gen.py"
    script.write_text(code)
    monkeypatch.setattr(
        _procs, "generator_command", lambda kind, prefer: ([sys.executable, str(script)], "fake")
    )


def test_run_generator_reports_the_window_edges_and_keeps_the_result(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake(monkeypatch, tmp_path, _FAKE_GENERATOR)
    edges: list[str] = []
    window = CpuWindow({"app": [os.getpid()]})

    def on_window(edge: str, pid: int) -> None:
        window.groups.setdefault("generator", [pid])
        edges.append(edge)
        window.mark(edge)

    result = _procs.run_generator({"kind": "x"}, timeout_s=60, on_window=on_window)
    assert result == {"accepted": 10, "generator": "fake"}
    assert edges == ["start", "stop"]
    assert window.per_message(10)["generator"] >= 0.0


def test_run_generator_raises_on_a_failed_job(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake(monkeypatch, tmp_path, "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(BenchError, match=r"^fake generator job x failed: boom$"):
        _procs.run_generator({"kind": "x"}, timeout_s=60)


def test_run_generator_kills_a_job_past_its_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake(monkeypatch, tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(BenchError, match=r"^generator job x ran past 0 s$"):
        _procs.run_generator({"kind": "x"}, timeout_s=0.2)
