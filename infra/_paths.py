"""Where the built artefacts live (all git-ignored except the inputs)."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FERRETDB_BIN",
    "FERRETDB_DIR",
    "INFRA_DIR",
    "KAFKA_DIR",
    "OIDC_DIR",
    "POSTGRES_SQL",
    "TOXIPROXY_BIN",
    "TOXIPROXY_DIR",
]

INFRA_DIR = Path(__file__).resolve().parent
KAFKA_DIR = INFRA_DIR / "kafka"
OIDC_DIR = INFRA_DIR / "oidc"
FERRETDB_DIR = INFRA_DIR / "ferretdb"
FERRETDB_BIN = FERRETDB_DIR / "bin" / "ferretdb-launcher"
# The network fault proxy the chaos tests put between Parley and the store.
TOXIPROXY_DIR = INFRA_DIR / "toxiproxy"
TOXIPROXY_BIN = TOXIPROXY_DIR / "bin" / "toxiproxy-server"
# Run on every start of the local PostgreSQL: the GIN indexes FerretDB's filters can use.
POSTGRES_SQL = INFRA_DIR / "postgres" / "indexes.sql"
