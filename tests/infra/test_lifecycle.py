"""`parley infra up/status/down/reset` on a state directory of their own (not the session's)."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pymongo
import pytest

from config.errors import ServiceStartError
from infra import LocalServices, Ports

pytestmark = pytest.mark.integration

PARLEY = str(Path(sys.executable).with_name("parley"))


def _our_processes(state_dir: Path) -> list[tuple[int, list[str]]]:
    """Every process whose command line names a path inside `state_dir` (java or ferretdb)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(str(state_dir) in arg for arg in argv):
            found.append((int(entry.name), argv))
    return found


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    ports = Ports.free()
    env = dict(os.environ)
    env.update(
        PARLEY_STATE_DIR=str(tmp_path / "state"),
        PARLEY_KAFKA_PORT=str(ports.kafka),
        PARLEY_KAFKA_CONTROLLER_PORT=str(ports.kafka_controller),
        PARLEY_MONGO_PORT=str(ports.mongo),
        PARLEY_OIDC_PORT=str(ports.oidc),
        PARLEY_LLM_PORT=str(ports.llm),
    )
    env.pop("PARLEY_LLM_BASE_URL", None)  # the local model server is part of this stack
    yield env
    # Whatever a failed assertion left behind is stopped here, by pidfile, never by name.
    LocalServices(ports, tmp_path / "state", llm=True).stop(deadline_s=5)


def _parley(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PARLEY, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_up_is_idempotent_status_reports_and_down_leaves_nothing(
    stack_env: dict[str, str],
) -> None:
    state_dir = Path(stack_env["PARLEY_STATE_DIR"])
    first = _parley(stack_env, "infra", "up")
    assert first.returncode == 0, first.stderr
    assert re.findall(r"^(\w+)\s+started\s+pid (\d+)", first.stdout, re.M)
    pids = dict(re.findall(r"^(\w+)\s+started\s+pid (\d+)", first.stdout, re.M))
    assert set(pids) == {"postgres", "kafka", "ferretdb", "oidc", "llm"}

    again = _parley(stack_env, "infra", "up")
    assert again.returncode == 0, again.stderr
    assert dict(re.findall(r"^(\w+)\s+running\s+pid (\d+)", again.stdout, re.M)) == pids

    moved = _parley({**stack_env, "PARLEY_MONGO_PORT": "1"}, "infra", "up")
    assert moved.returncode == 1
    assert re.fullmatch(
        r"parley infra: postgres, ferretdb, oidc, llm, kafka already running in \S+ "
        r"with ports .* not .*: "
        r"run `parley infra down` first\n",
        moved.stderr,
    )

    status = _parley(stack_env, "infra", "status")
    assert status.returncode == 0
    assert dict(re.findall(r"^(\w+)\s+ready\s+pid (\d+)", status.stdout, re.M)) == pids
    assert {int(p) for p in pids.values()} <= {pid for pid, _ in _our_processes(state_dir)}

    down = _parley(stack_env, "infra", "down")
    assert down.returncode == 0
    assert down.stdout.startswith("infra down: stopped ")
    assert _our_processes(state_dir) == []

    after = _parley(stack_env, "infra", "status")
    assert after.returncode == 3
    stopped = re.findall(r"^(\w+)\s+stopped", after.stdout, re.M)
    assert stopped == ["postgres", "ferretdb", "oidc", "llm", "kafka"]
    assert _parley(stack_env, "infra", "down").stdout == "infra down: nothing ran\n"


Doc = dict[str, object]


def _collection(uri: str, use: Callable[[pymongo.collection.Collection[Doc]], object]) -> object:
    client: pymongo.MongoClient[Doc] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        return use(client.get_default_database()["kept"])
    finally:
        client.close()


def test_data_survives_restart_until_reset(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    stack = LocalServices(Ports.free(), state_dir, die_with_parent=True, llm=False)
    try:
        ep = stack.start()
        _collection(ep.mongo_uri, lambda kept: kept.insert_one({"k": "v"}))
        assert sorted(stack.stop()) == ["ferretdb", "kafka", "oidc", "postgres"]

        ep = stack.start()
        found = _collection(ep.mongo_uri, lambda kept: kept.find_one({}, {"_id": 0}))
        assert found == {"k": "v"}

        stack.reset()
        assert _our_processes(state_dir) == []
        assert not (state_dir / "ferretdb").exists()
        assert not (state_dir / "postgres").exists()
        assert not (state_dir / "kafka").exists()
    finally:
        stack.stop(deadline_s=5)


@pytest.mark.parametrize(
    ("field", "service", "env_name"),
    [
        ("mongo", "ferretdb", "PARLEY_MONGO_PORT"),
        ("kafka_controller", "kafka", "PARLEY_KAFKA_CONTROLLER_PORT"),
    ],
)
def test_port_taken_by_a_stranger_is_one_clear_error(
    tmp_path: Path, field: str, service: str, env_name: str
) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = stranger.getsockname()[1]
        ports = dataclasses.replace(Ports.free(), **{field: taken})
        stack = LocalServices(ports, tmp_path / "state", llm=False)
        with pytest.raises(
            ServiceStartError,
            match=rf"^port {taken} for {service} is in use by another process: "
            rf"stop it or set {env_name}$",
        ):
            stack.start()
    assert _our_processes(tmp_path / "state") == []


def test_missing_java_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env.update(PATH=str(tmp_path), PARLEY_STATE_DIR=str(tmp_path / "state"))
    result = _parley(env, "infra", "up")
    assert result.returncode == 1
    assert result.stderr == (
        "parley infra: java 17 not found: apt-get install openjdk-17-jre-headless\n"
    )
