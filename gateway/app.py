"""The Quart-Trio applications: the gateway's (REST, `/ws`, browser files, operator
endpoints) and the operator-only one a core-only process serves.

Every blueprint is imported here, statically: a missing module is a broken build, not a
feature quietly switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Blueprint, Response
from quart_trio import QuartTrio

from gateway._posting import BODY_TIMEOUT_S, closes_connection, too_large_json
from gateway.context import browser_config
from gateway.openapi import openapi_blueprint
from gateway.operations import operations_blueprint
from gateway.ops import ops_blueprint
from gateway.rest import rest_blueprint
from gateway.static import static_blueprint
from gateway.ws import ws_blueprint
from protocol.refusals import Refusal, Unavailable

if TYPE_CHECKING:
    from config.settings import Settings
    from gateway.context import GatewayContext
    from telemetry import ProcessStatus

__all__ = ["create_app", "create_ops_app"]


def create_app(ctx: GatewayContext, extra: Sequence[Blueprint] = ()) -> QuartTrio:
    """The gateway's app: everything a browser, a REST client or an operator asks for.

    `extra`: blueprints of other roles (the plugin list), handed in by `parley serve`.
    """
    app = _base_app(ctx.settings, ctx.status, browser=ctx.browser_config())
    app.config["PARLEY_CONTEXT"] = ctx
    app.config["PARLEY_WS"] = ctx.ws
    app.config["PARLEY_HTTP_HOST"] = ctx.settings.http_host
    blueprints = (
        rest_blueprint,
        operations_blueprint,
        openapi_blueprint,
        ws_blueprint,
        static_blueprint,
        *extra,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def create_ops_app(
    settings: Settings, status: ProcessStatus, extra: Sequence[Blueprint] = ()
) -> QuartTrio:
    """A process without the gateway role (a core) answers the operator endpoints; its
    chat API answers 503 so that a client aimed at it by mistake retries elsewhere.

    `extra`: the role's internal blueprints (a plugin host's route endpoint)."""
    app = _base_app(settings, status, browser=browser_config(settings))
    for blueprint in extra:
        app.register_blueprint(blueprint)

    @app.route("/api/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def _no_chat_here(_rest: str) -> Response:
        raise Unavailable(
            f"this process runs the {status.role} role: the chat API is on the gateways",
            retry_after_s=1,
        )

    return app


def _base_app(settings: Settings, status: ProcessStatus, *, browser: dict[str, str]) -> QuartTrio:
    # An explicit root path: the editable install's import hook hides it from Flask.
    app = QuartTrio(__name__, root_path=str(Path(__file__).parent))
    app.config["PARLEY_STATUS"] = status
    app.config["PARLEY_BROWSER_CONFIG"] = browser
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S
    app.register_blueprint(ops_blueprint)
    readiness = status.readiness

    @app.after_request
    async def _close_while_draining(response: Response) -> Response:
        if closes_connection(readiness, response.status_code):
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Refusal)
    async def _refused(exc: Refusal) -> Response:
        return Response(
            exc.to_json(),
            status=exc.status,
            headers=exc.headers(),
            content_type="application/json",
        )

    @app.errorhandler(413)
    async def _too_large(_exc: Exception) -> Response:
        return Response(
            too_large_json(settings.max_body_bytes),
            status=413,
            content_type="application/json",
        )

    return app
