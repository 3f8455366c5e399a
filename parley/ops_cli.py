"""`parley ops ps|tree|drain|restart|plugin stop|start`: the operations API from a terminal.

Talks to any gateway (`--url`, default `PARLEY_OPS_URL`, else this machine's gateway) with
an admin's access token (`--token`, default `PARLEY_TOKEN`, else one fetched from the local
OIDC provider for its documented user `admin`). Every answer the API refuses is printed as
one line with its code, and the exit code says what happened: 0 done, 1 refused, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from config.errors import ParleyError

if TYPE_CHECKING:
    import httpx

__all__ = ["add_ops_parser", "format_processes", "format_tree", "ops_main"]

_TIMEOUT_S = 30.0


class OpsRefused(ParleyError):
    """Raised when the operations API answers with an error (printed as one line)."""


def add_ops_parser(sub: Any) -> None:
    ops = sub.add_parser("ops", help="operate the deployment: processes, trees, drain, restart")
    ops.add_argument("--url", default=None, help="a gateway's base URL")
    ops.add_argument("--token", default=None, help="an admin's access token")
    actions = ops.add_subparsers(dest="ops_action", required=True)
    actions.add_parser("ps", help="list the processes, their roles, partitions and state")
    tree = actions.add_parser("tree", help="a process's supervision tree")
    tree.add_argument("id", nargs="?", default=None, help="process id (default: the gateway's)")
    drain = actions.add_parser("drain", help="drain a process (the SIGTERM path), it exits 0")
    drain.add_argument("id")
    restart = actions.add_parser("restart", help="restart an actor subtree of a process")
    restart.add_argument("id")
    restart.add_argument("path", help="the node's path as `parley ops tree` shows it")
    plugin = actions.add_parser("plugin", help="stop or start a plugin on every plugin host")
    plugin.add_argument("plugin_action", choices=("stop", "start"))
    plugin.add_argument("id", help="the plugin's id")


def ops_main(args: argparse.Namespace) -> int:
    # Imported here: `parley --help` and the other commands should not pay for them.
    import httpx

    from config.settings import load_settings

    settings = load_settings()
    url = (args.url or os.environ.get("PARLEY_OPS_URL") or settings.http_base_url).rstrip("/")
    token = args.token or os.environ.get("PARLEY_TOKEN") or _local_admin_token()
    verify: bool | str = os.environ.get("PARLEY_OPS_CA") or True
    with httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=_TIMEOUT_S,
        verify=verify,
    ) as client:
        action = args.ops_action
        if action == "ps":
            print(format_processes(_call(client, "GET", "/api/v1/ops/processes")))
        elif action == "tree":
            process_id = args.id or _call(client, "GET", "/api/v1/ops/processes")["answered_by"]
            print(format_tree(_call(client, "GET", f"/api/v1/ops/processes/{process_id}/actors")))
        elif action == "drain":
            answer = _call(client, "POST", f"/api/v1/ops/processes/{args.id}/drain")
            print(f"{args.id}: {answer['command']['outcome']}")
        elif action == "restart":
            body = {"path": args.path}
            answer = _call(client, "POST", f"/api/v1/ops/processes/{args.id}/restart", body)
            print(f"{args.id}: {answer['command']['outcome']}")
        elif action == "plugin":
            verb = args.plugin_action
            answer = _call(client, "POST", f"/api/v1/ops/plugins/{args.id}/{verb}")
            hosts = ", ".join(f"{h}: {s}" for h, s in sorted(answer["hosts"].items()))
            print(f"{args.id}: {answer['state']} ({hosts})")
    return 0


def _local_admin_token() -> str:
    from config.settings import load_settings
    from infra.token import fetch_access_token, local_issuer

    settings = load_settings()
    return fetch_access_token(
        local_issuer(settings), "admin", settings.oidc_audience, client_id=settings.oidc_client_id
    )


def _call(
    client: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    import httpx

    try:
        answer = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise OpsRefused(f"{client.base_url} unreachable: {exc}") from None
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        code = error.get("code", "error")
        message = error.get("message", answer.text[:200])
        raise OpsRefused(f"HTTP {answer.status_code} {code}: {message}")
    if not isinstance(data, dict):
        raise OpsRefused(f"unexpected answer from {path}: {answer.text[:200]}")
    return data


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def format_processes(listing: dict[str, Any]) -> str:
    """`parley ops ps`: one line per process."""
    now = time.time()
    rows = [("ID", "ROLE", "STATE", "VERSION", "UP", "SEEN", "CONNS", "THREADS", "PARTITIONS")]
    for p in listing.get("processes", []):
        partitions = "; ".join(
            f"{label}: {','.join(owned) or '-'}" for label, owned in sorted(p["partitions"].items())
        )
        rows.append(
            (
                str(p["id"]),
                str(p["role"]),
                str(p["state"]),
                str(p["version"]),
                _ago(now - float(p["started_at"])),
                _ago(float(p["heartbeat_age_s"])) + " ago",
                str(p["connections"]),
                str(p["threads"]),
                partitions or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def format_tree(tree: dict[str, Any]) -> str:
    """`parley ops tree`: the supervision tree, indented by depth, one node a line."""
    now = time.time()
    lines = [f"{tree['id']} ({tree['role']}, {tree['state']})"]
    for node in tree.get("actors", []):
        path = str(node["path"])
        depth = path.count("/") - 1
        name = path.rsplit("/", 1)[-1]
        facts = [str(node["kind"]), str(node["state"]), f"age {_ago(float(node['uptime']))}"]
        if node.get("restarts"):
            facts.append(f"restarts {node['restarts']}")
        mailbox = node.get("mailbox")
        if isinstance(mailbox, dict):
            facts.append(f"mailbox {mailbox['depth']}/{mailbox['capacity']}")
        if "live" in node:
            facts.append(f"live {node['live']}")
        if node.get("last_failure"):
            when = node.get("last_failure_at")
            ago = f" {_ago(now - float(when))} ago" if when is not None else ""
            facts.append(f"last failure{ago}: {node['last_failure']}")
        lines.append(f"{'  ' * depth}{name}  [{path}]  " + ", ".join(facts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """For `python -m parley.ops_cli` (tests); `parley ops` is the usual way in."""
    parser = argparse.ArgumentParser(prog="parley")
    add_ops_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return ops_main(args)
    except ParleyError as exc:
        print(f"parley ops: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
