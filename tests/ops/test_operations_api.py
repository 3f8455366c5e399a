"""The operations API against a real `parley serve`: admins only, the processes and their
trees from the heartbeats, restart and drain commands with who asked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart_trio import QuartTrio

from config.settings import Settings
from gateway.operations import OPS_ROUTES, operations_blueprint
from tests.ops.conftest import ops_settings
from tests.support.server import ParleyProcess

pytestmark = pytest.mark.integration

_WAIT_S = 30.0


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + _WAIT_S
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen within {_WAIT_S}s (last: {last!r})")


def _processes(http: httpx.Client, token: str) -> dict[str, dict[str, Any]]:
    answer = http.get("/api/v1/ops/processes", headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return {p["id"]: p for p in answer.json()["processes"]}


def _tree(http: httpx.Client, token: str, process_id: str) -> dict[str, dict[str, Any]]:
    answer = http.get(f"/api/v1/ops/processes/{process_id}/actors", headers=_auth(token))
    assert answer.status_code == 200, answer.text
    return {node["path"]: node for node in answer.json()["actors"]}


def test_the_route_list_names_every_operations_route() -> None:
    app = QuartTrio(__name__)
    app.register_blueprint(operations_blueprint)
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/ops")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == set(OPS_ROUTES)


def test_every_operations_route_wants_an_admin(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    process_id = server.settings.gateway_id
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        for method, rule in OPS_ROUTES:
            url = rule.replace("<process_id>", process_id).replace("<plugin_id>", "commands")
            body = {"path": "/parley/threads"} if method == "POST" else None
            missing = http.request(method, url, json=body)
            assert missing.status_code == 401, (rule, missing.text)
            assert missing.json()["error"]["code"] == "missing_token"
            user = http.request(method, url, json=body, headers=_auth(tokens["alice"]))
            assert user.status_code == 403, (rule, user.text)
            assert user.json()["error"]["code"] == "admin_required"
            forged = http.request(method, url, json=body, headers=_auth(tokens["admin"] + "x"))
            assert forged.status_code == 401, (rule, forged.text)
        # Nothing above reached a process: it still runs, and the old snapshot is unchanged.
        assert _processes(http, tokens["admin"])[process_id]["state"] == "running"
        # /api/v1/server is the signed-in user's boot snapshot now (issue 17): a token, any.
        assert http.get("/api/v1/server").status_code == 401
        assert http.get("/api/v1/server", headers=_auth(tokens["alice"])).status_code == 200


def test_an_admin_sees_the_process_its_partitions_and_its_tree(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    process_id = server.settings.gateway_id
    admin = tokens["admin"]
    with httpx.Client(base_url=server.http_url, timeout=10) as http:

        def assigned() -> dict[str, Any] | None:
            row = _processes(http, admin).get(process_id)
            if row and row["partitions"].get("commands") and row["partitions"].get("events"):
                return row
            return None

        row = _wait_for("partitions announced", assigned)
        assert row["role"] == "all"
        assert row["state"] == "running"
        assert row["version"]
        commands_topic = server.settings.commands_topic
        assert row["partitions"]["commands"] == [
            f"{commands_topic}[{n}]" for n in range(server.settings.topic_partitions)
        ]
        assert row["connections"] == 0
        detail = http.get(f"/api/v1/ops/processes/{process_id}", headers=_auth(admin)).json()
        assert detail["readiness"]["ready"] is True
        assert detail["snapshot"]["role"] == "all"
        tree = _tree(http, admin, process_id)
        for path in ("/parley", "/parley/store", "/parley/threads", "/parley/connections"):
            assert path in tree, sorted(tree)
        threads = tree["/parley/threads"]
        assert threads["kind"] == "registry"
        assert threads["state"] == "running"
        assert threads["restarts"] == 0
        assert threads["last_failure"] is None
        assert isinstance(threads["uptime"], float)
        assert tree["/parley/announcer"]["mailbox"]["depth"] == 0


def test_restart_a_subtree_and_the_tree_counts_it(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    process_id = server.settings.gateway_id
    admin = tokens["admin"]
    url = f"/api/v1/ops/processes/{process_id}/restart"
    with httpx.Client(base_url=server.http_url, timeout=30) as http:
        answer = http.post(url, json={"path": "/parley/threads"}, headers=_auth(admin))
        assert answer.status_code == 200, answer.text
        command = answer.json()["command"]
        assert command["state"] == "done"
        assert command["asked_by"] == "admin"
        assert command["outcome"] == "restarted /parley/threads (restarts: 1)"
        assert _tree(http, admin, process_id)["/parley/threads"]["restarts"] == 1

        service = http.post(url, json={"path": "/parley/store"}, headers=_auth(admin))
        assert service.status_code == 409, service.text
        assert service.json()["error"]["code"] == "not_restartable"
        nothing = http.post(url, json={"path": "/parley/nothing"}, headers=_auth(admin))
        assert nothing.status_code == 404, nothing.text
        assert nothing.json()["error"] == {
            "code": "not_found",
            "message": "no actor at /parley/nothing",
            "field": "path",
        }
        bad = http.post(url, json={"path": 3}, headers=_auth(admin))
        assert bad.status_code == 422, bad.text
    assert "operator command" in server.tail(200)
    assert '"asked_by": "admin"' in server.tail(200)


def test_unknown_processes_answer_404_at_once(
    server: ParleyProcess, tokens: dict[str, str]
) -> None:
    admin = tokens["admin"]
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        for suffix in ("drain", "restart"):
            answer = http.post(
                f"/api/v1/ops/processes/nobody-1/{suffix}",
                json={"path": "/parley/threads"},
                headers=_auth(admin),
            )
            assert answer.status_code == 404, answer.text
            assert answer.json()["error"]["code"] == "process_gone"
        tree = http.get("/api/v1/ops/processes/nobody-1/actors", headers=_auth(admin))
        assert tree.status_code == 404
        assert tree.json()["error"]["code"] == "not_found"


def test_drain_a_core_remotely_and_kill_another_it_shows_stopped_and_gone(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    shared = ops_settings(settings)
    gateway = ParleyProcess(shared, "gateway", log_dir=tmp_path).start()
    cores = [
        ParleyProcess(shared, "core", log_dir=tmp_path, name=f"core{n}").start() for n in (1, 2)
    ]
    admin = tokens["admin"]
    try:
        with httpx.Client(base_url=gateway.http_url, timeout=30) as http:
            ids = [c.settings.gateway_id for c in cores]
            seen = _wait_for(
                "both cores announced",
                lambda: all(i in _processes(http, admin) for i in ids) and _processes(http, admin),
            )
            assert seen[ids[0]]["role"] == "core"
            assert seen[gateway.settings.gateway_id]["role"] == "gateway"

            answer = http.post(f"/api/v1/ops/processes/{ids[0]}/drain", headers=_auth(admin))
            assert answer.status_code == 200, answer.text
            assert answer.json()["command"]["outcome"] == "draining"
            # It drains and exits by itself, 0 as after a SIGTERM.
            assert cores[0].proc is not None
            assert cores[0].proc.wait(timeout=_WAIT_S) == 0, cores[0].tail()
            _wait_for("drained core stopped", lambda: _state(http, admin, ids[0]) == "stopped")
            # The survivor takes every partition over.
            _wait_for(
                "partitions moved to the other core",
                lambda: len(_processes(http, admin)[ids[1]]["partitions"]["commands"])
                == shared.topic_partitions,
            )
            again = http.post(f"/api/v1/ops/processes/{ids[0]}/drain", headers=_auth(admin))
            assert again.status_code == 404
            assert again.json()["error"]["code"] == "process_gone"

            cores[1].kill()
            _wait_for("killed core shown gone", lambda: _state(http, admin, ids[1]) == "gone")
            gone = http.post(
                f"/api/v1/ops/processes/{ids[1]}/restart",
                json={"path": "/parley/threads"},
                headers=_auth(admin),
            )
            assert gone.status_code == 404
            assert gone.json()["error"]["code"] == "process_gone"
    finally:
        for core in cores:
            core.kill()
        gateway.stop()


def _state(http: httpx.Client, token: str, process_id: str) -> str:
    return str(_processes(http, token)[process_id]["state"])
