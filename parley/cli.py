"""The `parley` command: one entry point for operators, scripts and the Makefile.

Each subcommand imports its implementation lazily so that `parley infra status` does not pay
for loading the gateway, and a missing optional part fails with one clear line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley chat platform")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (gateway, core or both)")
    serve.add_argument("--role", choices=["all", "gateway", "core", "plugins"], default=None)
    serve.add_argument("--port", type=int, default=None, help="gateway HTTP port")

    sub.add_parser("run", help="start local services and the server; Ctrl-C stops everything")

    token = sub.add_parser("token", help="print an access token from the local OIDC provider")
    token.add_argument("user", help="user name, e.g. alice")

    infra = sub.add_parser("infra", help="local Kafka, FerretDB and OIDC provider")
    infra.add_argument("action", choices=["build", "up", "down", "status", "reset"])

    assets = sub.add_parser("assets", help="browser assets vendored from npm")
    assets.add_argument("action", choices=["build"])

    protocol = sub.add_parser("protocol", help="generated protocol files (browser module)")
    protocol.add_argument("action", choices=["generate", "new-event"])
    protocol.add_argument("--type", dest="event_type", help="new-event: its type, e.g. a.b")
    protocol.add_argument(
        "--check", action="store_true", help="fail if a generated file is stale; write nothing"
    )

    snapshots = sub.add_parser("snapshots", help="read models rebuilt from the domain events")
    snapshots.add_argument("action", choices=["rebuild"])

    certs = sub.add_parser("certs", help="TLS certificates for local HTTPS and WSS")
    certs.add_argument("action", choices=["dev"])
    certs.add_argument("--out", default=None, help="folder (default: <state dir>/certs)")

    from parley.ops_cli import add_ops_parser

    add_ops_parser(sub)

    plugin = sub.add_parser("plugin", help="plugin workspace: new, list, test, pin, unpin, logs")
    actions = plugin.add_subparsers(dest="action", required=True)
    new = actions.add_parser("new", help="scaffold a plugin with its tests and commit it")
    new.add_argument("name")
    new.add_argument("--template", choices=["bot", "ui", "assistant"], default="bot")
    actions.add_parser("list", help="plugins, versions, states, errors, hook calls, p99")
    actions.add_parser("test", help="run a plugin's own tests").add_argument("name")
    pin = actions.add_parser("pin", help="run a plugin from an earlier commit")
    pin.add_argument("id")
    pin.add_argument("commit")
    actions.add_parser("unpin", help="follow the workspace again").add_argument("id")
    actions.add_parser("logs", help="a plugin's recent log lines").add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from config.errors import ParleyError

    try:
        if args.command == "serve":
            from parley.serve import serve_main

            return serve_main(role=args.role, port=args.port)
        if args.command == "run":
            from parley.run import run_main

            return run_main()
        if args.command == "token":
            from infra.token import token_main

            return token_main(args.user)
        if args.command == "infra":
            from infra.cli import infra_main

            return infra_main(args.action)
        if args.command == "assets":
            from gateway.assets import assets_main

            return assets_main(args.action)
        if args.command == "protocol":
            from parley.protocol_cli import protocol_main

            return protocol_main(args.action, check=args.check, event_type=args.event_type)
        if args.command == "snapshots":
            from parley.snapshots_cli import snapshots_main

            return snapshots_main(args.action)
        if args.command == "certs":
            from parley.certs import certs_main

            return certs_main(args.action, args.out)
        if args.command == "ops":
            from parley.ops_cli import ops_main

            return ops_main(args)
        if args.command == "plugin":
            from plugins import plugin_main

            return plugin_main(args)
    except ParleyError as exc:
        # Operator-facing failures are one clear line, never a stack trace.
        print(f"parley {args.command}: {exc}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
