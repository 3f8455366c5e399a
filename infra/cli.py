"""`parley infra build|up|down|status|reset` (also `make infra-up/down/status`)."""

from __future__ import annotations

import sys

from config.settings import load_settings
from infra._build import build
from infra._local import LocalServices

__all__ = ["infra_main"]

_DEV_USERS = "alice, bob, carol"


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def infra_main(action: str) -> int:
    settings = load_settings()
    if action == "build":
        report = build()
        if report.built:
            _out(f"infra build: built {', '.join(report.built)} in {report.seconds:.1f}s")
        else:
            _out(f"infra build: up to date ({report.seconds:.1f}s)")
        return 0

    services = LocalServices(settings)
    if action == "up":
        ep = services.start()
        fresh = set(services.started)
        for svc, where in (
            (services.kafka, f"{ep.kafka_bootstrap}  topics {', '.join(services.topics)}"),
            *(
                (
                    (
                        services.postgres,
                        f"socket {services.postgres.socket_dir}  (FerretDB's storage)",
                    ),
                )
                if services.postgres is not None
                else ()
            ),
            (services.ferretdb, f"{ep.mongo_uri}  on {services.store_backend}"),
            (services.oidc, f"{ep.oidc_issuer}  users {_DEV_USERS} (any name, no password)"),
            *(
                ((services.llm, f"{ep.llm_base_url}  model {settings.llm_model}"),)
                if services.llm is not None
                else ()
            ),
        ):
            state = "started" if svc.name in fresh else "running"
            _out(f"{svc.name:<9}{state:<9}pid {svc.pid()!s:<8}{where}")
        _out(f"state    {ep.state_dir}  (logs: <service>/<service>.log)")
        return 0
    if action == "down":
        stopped = services.stop()
        _out(f"infra down: stopped {', '.join(stopped)}" if stopped else "infra down: nothing ran")
        return 0
    if action == "reset":
        stopped = services.reset()
        what = f"stopped {', '.join(stopped)}, " if stopped else ""
        _out(f"infra reset: {what}deleted data and logs in {services.state_dir}")
        return 0
    if action == "status":
        all_ready = True
        for st in services.status():
            state = "ready" if st.ready else ("starting" if st.pid else "stopped")
            all_ready = all_ready and st.ready
            _out(f"{st.name:<9}{state:<9}pid {st.pid!s:<8}127.0.0.1:{st.port}  log {st.log}")
        return 0 if all_ready else 3
    raise ValueError(f"unknown infra action {action!r}")
