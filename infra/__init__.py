"""Local services for development and tests: Kafka (KRaft), FerretDB, an OIDC provider, toxiproxy,
and the assistants' local model server (llama.cpp serving SmolLM2-135M-Instruct).

`parley infra build|up|down|status|reset` (see `infra.cli`) and the test fixture in
`tests/conftest.py` both go through `LocalServices`. `infra/README.md` lists the pinned versions
and how each service starts.
"""

from __future__ import annotations

from infra._build import BuildReport, build, is_built
from infra._errors import BuildError
from infra._llm import LlmServer, find_model_file
from infra._local import Endpoints, LocalServices, Ports, ServiceStatus
from infra._paths import TOXIPROXY_BIN
from infra._ports import find_free_port, find_free_ports
from infra.token import fetch_access_token

__all__ = [
    "TOXIPROXY_BIN",
    "BuildError",
    "BuildReport",
    "Endpoints",
    "LlmServer",
    "LocalServices",
    "Ports",
    "ServiceStatus",
    "build",
    "fetch_access_token",
    "find_free_port",
    "find_free_ports",
    "find_model_file",
    "is_built",
]
