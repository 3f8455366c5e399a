"""Operator and browser-bootstrap endpoints: health, readiness, metrics, config.js.

`/api/v1/server` is the signed-in user's boot snapshot now (gateway.rest, token required);
the process internals it used to show stay one call away: ``ProcessStatus.snapshot()``
(``process_snapshot_json`` here), for the admin-only operations endpoints.

Every role's HTTP server answers these (a core-only process too), so they read only the
process's `ProcessStatus` and the browser config from the app config, never the chat parts.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, current_app

if TYPE_CHECKING:
    from telemetry import ProcessStatus

__all__ = ["ops_blueprint", "process_snapshot_json"]

ops_blueprint = Blueprint("ops", __name__)


def _status() -> ProcessStatus:
    status: ProcessStatus = current_app.config["PARLEY_STATUS"]
    return status


@ops_blueprint.get("/healthz")
async def healthz() -> Response:
    # Liveness only: the process answers. Dependencies belong to /readyz.
    return Response(json.dumps({"status": "ok"}), content_type="application/json")


@ops_blueprint.get("/readyz")
async def readyz() -> Response:
    readiness = _status().readiness
    status = 200 if readiness.ready else 503
    return Response(json.dumps(readiness.report()), status=status, content_type="application/json")


@ops_blueprint.get("/metrics")
async def metrics() -> Response:
    status = _status()
    status.refresh_gauges()
    return Response(generate_latest(status.metrics.registry), content_type=CONTENT_TYPE_LATEST)


@ops_blueprint.get("/config.js")
async def config_js() -> Response:
    # Runtime configuration for the browser; nothing here is baked into static files.
    config = current_app.config["PARLEY_BROWSER_CONFIG"]
    body = "window.PARLEY_CONFIG = " + json.dumps(config, indent=2) + ";\n"
    return Response(
        body,
        content_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def process_snapshot_json(status: ProcessStatus) -> str:
    """The process internals `/api/v1/server` answered before it became the user's boot
    snapshot (gateway.rest); the operations endpoints serve this (admin only)."""
    return json.dumps(status.snapshot(), default=str)
