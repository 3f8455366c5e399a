"""The Quart-Trio application: REST, operator endpoints, browser files, `/ws` fallback."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from quart import Response
from quart_trio import QuartTrio

from gateway._posting import closes_connection, too_large_json
from protocol.refusals import Refusal

if TYPE_CHECKING:
    from gateway.context import GatewayContext

__all__ = ["create_app"]

# Blueprints that other parts of the gateway contribute; a module that is not there yet is
# skipped so the app still answers health checks while the rest is being built.
_OPTIONAL_BLUEPRINTS = (
    ("gateway.rest", "rest_blueprint"),
    ("gateway.openapi", "openapi_blueprint"),
    ("gateway.ws.quart_route", "ws_blueprint"),
    ("gateway.static", "static_blueprint"),
)


def create_app(ctx: GatewayContext) -> QuartTrio:
    from gateway.ops import ops_blueprint

    # An explicit root path: the editable install's import hook hides it from Flask.
    app = QuartTrio(__name__, root_path=str(Path(__file__).parent))
    app.config["PARLEY_CONTEXT"] = ctx
    app.config["MAX_CONTENT_LENGTH"] = ctx.settings.max_body_bytes
    app.register_blueprint(ops_blueprint)
    for module_name, attr in _OPTIONAL_BLUEPRINTS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.register_blueprint(getattr(module, attr))

    @app.after_request
    async def _close_while_draining(response: Response) -> Response:
        if closes_connection(ctx, response.status_code):
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Refusal)
    async def _refused(exc: Refusal) -> Response:
        return Response(
            exc.to_json(), status=exc.status, headers=exc.headers(),
            content_type="application/json",
        )

    @app.errorhandler(413)
    async def _too_large(_exc: Exception) -> Response:
        return Response(
            too_large_json(ctx.settings.max_body_bytes), status=413,
            content_type="application/json",
        )

    return app
