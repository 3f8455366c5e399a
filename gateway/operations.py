"""The operations API: the deployment's processes, their supervision trees, and commands.

Admins only (a token whose `PARLEY_ADMIN_CLAIM` holds `PARLEY_ADMIN_VALUE`): 401 without a
token, 403 `admin_required` for everyone else, on every route here. The token is read from
the Authorization header only, never from the URL.

    GET  /api/v1/ops/processes                  every process that announced itself in the
                                                last day, with its state (running, draining,
                                                stopped, gone)
    GET  /api/v1/ops/processes/{id}             one of them, with its readiness checks
    GET  /api/v1/ops/processes/{id}/actors      its supervision tree (last announcement)
    POST /api/v1/ops/processes/{id}/drain       the SIGTERM path, asked for remotely
    POST /api/v1/ops/processes/{id}/restart     {"path": "/parley/threads"}: restart a subtree
    POST /api/v1/ops/plugins/{plugin_id}/stop   stop a plugin on every plugin host
    POST /api/v1/ops/plugins/{plugin_id}/start  start it again

A plugin's stop/start is a desired state for the whole deployment (`protocol.ops.PluginSwitch`
in the store), not a command to one process: every plugin host obeys it within a second,
and one started later obeys it before it loads the plugin. The request waits until every
live process that runs the plugin announces the new state; a plugin no live process runs is
404 `not_found`.

Everything is read from the processes' announcements in the store (`adapters.ProcessBoard`),
so any gateway answers for every process, a core-only one included. A command is queued for
the named process, which takes it at its next heartbeat; the request waits for the outcome
(at most the heartbeat timeout). A process that is unknown, gone or stopped is 404
`process_gone` at once: a command to it would never be taken.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from quart import Blueprint, Response, current_app, request

from adapters import AdapterError
from gateway.auth import bearer_token, is_admin
from gateway.schemas import parse_json
from protocol.ops import CommandKind, CommandState, Liveness, OpsCommand, PluginSwitch
from protocol.refusals import (
    AdminRequired,
    CommandNotTaken,
    NotFound,
    NotRestartable,
    ProcessGone,
    Unavailable,
    ValidationFailed,
)

if TYPE_CHECKING:
    from gateway.auth import Principal
    from gateway.context import GatewayContext
    from protocol.ops import ProcessAnnouncement

__all__ = ["OPS_ROUTES", "operations_blueprint"]

log = logging.getLogger("parley.ops")
T = TypeVar("T")

operations_blueprint = Blueprint("operations", __name__)

# Every route of this blueprint, (method, rule): tests check each refuses non-admins.
OPS_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/v1/ops/processes"),
    ("GET", "/api/v1/ops/processes/<process_id>"),
    ("GET", "/api/v1/ops/processes/<process_id>/actors"),
    ("POST", "/api/v1/ops/processes/<process_id>/drain"),
    ("POST", "/api/v1/ops/processes/<process_id>/restart"),
    ("POST", "/api/v1/ops/plugins/<plugin_id>/stop"),
    ("POST", "/api/v1/ops/plugins/<plugin_id>/start"),
)

# How often a waiting command request looks at its document.
_COMMAND_POLL_S = 0.2
# Processes silent for longer drop out of the list (their documents and trees stay readable
# by id): a deployment restarted daily would otherwise list every process it ever ran.
_LISTED_FOR_S = 86_400.0
# How long one read or write of the announcements may take before the API answers 503.
_STORE_TIMEOUT_S = 5.0
_MAX_PATH_CHARS = 1_000
# A plugin id as plugin.toml allows it (plugins._manifest; the gateway does not import plugins).
_PLUGIN_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# A plugin host reads the switches once a second, then the next heartbeat announces it.
_SWITCH_GRACE_S = 2.0


async def _stored(call: Callable[[], Awaitable[T]]) -> T:
    """A ProcessBoard call, answered 503 (retry) when the store fails or does not answer:
    never a 500, never a request left hanging while the store is away."""
    with trio.move_on_after(_STORE_TIMEOUT_S):
        try:
            return await call()
        except AdapterError as exc:
            raise Unavailable(f"the store is unavailable: {exc}", retry_after_s=1) from None
    raise Unavailable(f"the store did not answer within {_STORE_TIMEOUT_S:g}s", retry_after_s=1)


def _ctx() -> GatewayContext:
    ctx: GatewayContext = current_app.config["PARLEY_CONTEXT"]
    return ctx


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json")


async def require_admin(ctx: GatewayContext) -> Principal:
    """The admin behind this request: 401 without a valid token, 403 if not an admin."""
    principal = await ctx.authenticate(bearer_token(request.headers.get("Authorization")))
    settings = ctx.settings
    if not is_admin(principal, settings.admin_claim, settings.admin_value):
        raise AdminRequired("the operations API is for operators only")
    return principal


def _now() -> float:
    return time.time()


async def _live_process(ctx: GatewayContext, process_id: str) -> ProcessAnnouncement:
    found = await _stored(partial(ctx.board.process, process_id))
    if found is None:
        raise ProcessGone(f"no process {process_id!r} ever announced itself", field="id")
    state = found.liveness(_now(), ctx.settings.heartbeat_timeout_s)
    if state in (Liveness.GONE, Liveness.STOPPED):
        raise ProcessGone(f"process {process_id!r} is {state.value}", field="id")
    return found


async def _known_process(ctx: GatewayContext, process_id: str) -> ProcessAnnouncement:
    found = await _stored(partial(ctx.board.process, process_id))
    if found is None:
        raise NotFound(f"no process {process_id!r} ever announced itself", field="id")
    return found


@operations_blueprint.get("/api/v1/ops/processes")
async def list_processes() -> Response:
    ctx = _ctx()
    await require_admin(ctx)
    now, timeout = _now(), ctx.settings.heartbeat_timeout_s
    rows = [
        p.summary(now, timeout)
        for p in await _stored(ctx.board.processes)
        if now - p.heartbeat_at <= _LISTED_FOR_S
    ]
    return _json({"processes": rows, "heartbeat_timeout_s": timeout, "answered_by": _self(ctx)})


@operations_blueprint.get("/api/v1/ops/processes/<process_id>")
async def get_process(process_id: str) -> Response:
    ctx = _ctx()
    await require_admin(ctx)
    found = await _known_process(ctx, process_id)
    row = found.summary(_now(), ctx.settings.heartbeat_timeout_s)
    row["readiness"] = found.readiness
    if process_id == _self(ctx):
        # This very process: its live internals (what /api/v1/server shows anyone today).
        row["readiness"] = ctx.status.readiness.report()
        row["snapshot"] = ctx.status.snapshot()
    return Response(json.dumps(row, default=str), content_type="application/json")


@operations_blueprint.get("/api/v1/ops/processes/<process_id>/actors")
async def get_actors(process_id: str) -> Response:
    ctx = _ctx()
    await require_admin(ctx)
    found = await _known_process(ctx, process_id)
    now = _now()
    return _json(
        {
            "id": found.process_id,
            "role": found.role,
            "state": found.liveness(now, ctx.settings.heartbeat_timeout_s).value,
            "as_of": found.heartbeat_at,
            "actors": found.actors,
        }
    )


@operations_blueprint.post("/api/v1/ops/processes/<process_id>/drain")
async def drain(process_id: str) -> Response:
    ctx = _ctx()
    principal = await require_admin(ctx)
    await _live_process(ctx, process_id)
    command = OpsCommand.new(process_id, CommandKind.DRAIN, principal.user_id, _now())
    return _json(await _run_command(ctx, command))


@operations_blueprint.post("/api/v1/ops/processes/<process_id>/restart")
async def restart(process_id: str) -> Response:
    ctx = _ctx()
    principal = await require_admin(ctx)
    raw = await request.get_data(cache=False)
    body = raw if isinstance(raw, bytes) else raw.encode()
    path = _restart_path(parse_json(body or b"{}"))
    await _live_process(ctx, process_id)
    command = OpsCommand.new(process_id, CommandKind.RESTART, principal.user_id, _now(), path)
    return _json(await _run_command(ctx, command))


def _restart_path(body: Any) -> str:
    path = body.get("path") if isinstance(body, dict) else None
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_PATH_CHARS:
        raise ValidationFailed(
            'send {"path": "/parley/..."}: the path of a node as the tree shows it',
            field="path",
        )
    return path


async def _run_command(ctx: GatewayContext, command: OpsCommand) -> dict[str, Any]:
    log.info(
        "operator command asked",
        extra={
            "command": command.kind.value,
            "target": command.process_id,
            "path": command.path or None,
            "asked_by": command.asked_by,
            "command_id": command.command_id,
        },
    )
    await _stored(partial(ctx.board.post, command))
    with trio.move_on_after(ctx.settings.heartbeat_timeout_s):
        while True:
            seen = await _stored(partial(ctx.board.command, command.command_id))
            if seen is not None and seen.state is not CommandState.PENDING:
                break
            await trio.sleep(_COMMAND_POLL_S)
        if seen.state is CommandState.DONE:
            return {"command": seen.to_json()}
        if seen.error_code == "not_found":
            raise NotFound(seen.outcome, field="path")
        if seen.error_code == "not_restartable":
            raise NotRestartable(seen.outcome, field="path")
        raise CommandNotTaken(f"{command.kind.value} failed: {seen.outcome}", retry_after_s=1)
    raise CommandNotTaken(
        f"process {command.process_id!r} did not take the {command.kind.value} command "
        f"({command.command_id}) within {ctx.settings.heartbeat_timeout_s:g}s",
        retry_after_s=1,
    )


@operations_blueprint.post("/api/v1/ops/plugins/<plugin_id>/stop")
async def stop_plugin(plugin_id: str) -> Response:
    return _json(await _switch_plugin(plugin_id, running=False))


@operations_blueprint.post("/api/v1/ops/plugins/<plugin_id>/start")
async def start_plugin(plugin_id: str) -> Response:
    return _json(await _switch_plugin(plugin_id, running=True))


async def _switch_plugin(plugin_id: str, *, running: bool) -> dict[str, Any]:
    ctx = _ctx()
    principal = await require_admin(ctx)
    if not _PLUGIN_ID.match(plugin_id):
        raise ValidationFailed(
            f"{plugin_id[:60]!r} is not a plugin id (lowercase letters, digits, -)",
            field="plugin_id",
        )
    timeout = ctx.settings.heartbeat_timeout_s
    if not _hosts_of(await _stored(ctx.board.processes), plugin_id, timeout):
        raise NotFound(f"no live plugin host runs plugin {plugin_id!r}", field="plugin_id")
    action = "start" if running else "stop"
    switch = PluginSwitch(plugin_id, running, principal.user_id, _now())
    log.info(
        "operator command asked",
        extra={"command": f"plugin {action}", "plugin": plugin_id, "asked_by": switch.asked_by},
    )
    await _stored(partial(ctx.board.switch_plugin, switch))
    wanted = "running" if running else "stopped"
    hosts: dict[str, str] = {}
    with trio.move_on_after(ctx.settings.heartbeat_timeout_s + _SWITCH_GRACE_S):
        while True:
            hosts = _hosts_of(await _stored(ctx.board.processes), plugin_id, timeout)
            # A start does not make a failed or refused plugin run: it is done once no host
            # shows it stopped any more.
            if all(state == wanted or (running and state != "stopped") for state in hosts.values()):
                return {"plugin": switch.to_json(), "state": wanted, "hosts": hosts}
            await trio.sleep(_COMMAND_POLL_S)
    raise CommandNotTaken(
        f"plugin {action} of {plugin_id!r} recorded, but not every host announced it within "
        f"{ctx.settings.heartbeat_timeout_s + _SWITCH_GRACE_S:g}s: {hosts}",
        retry_after_s=1,
    )


def _hosts_of(
    processes: list[ProcessAnnouncement], plugin_id: str, timeout_s: float
) -> dict[str, str]:
    """{process id: the plugin's state} for every live process that runs `plugin_id`."""
    now = _now()
    hosts: dict[str, str] = {}
    for process in processes:
        if process.liveness(now, timeout_s) in (Liveness.GONE, Liveness.STOPPED):
            continue
        for plugin in process.plugins:
            if plugin.get("id") == plugin_id:
                hosts[process.process_id] = str(plugin.get("state", ""))
    return hosts


def _self(ctx: GatewayContext) -> str:
    return ctx.status.process_id
