"""Errors of the local services, all operator-facing one-liners from `config.errors`.

    ParleyError (config.errors)
    ├── MissingToolError      java 17, mvn or go is not installed (names the install command)
    ├── ServiceStartError     a service exited early or did not answer its readiness check
    │   └── BuildError        `mvn` or `go build` failed (the tail of its output is in the message)
    └── ConfigurationError    a service already runs with other ports than the ones asked for
"""

from __future__ import annotations

from config.errors import ConfigurationError, MissingToolError, ParleyError, ServiceStartError

__all__ = [
    "BuildError",
    "ConfigurationError",
    "MissingToolError",
    "ParleyError",
    "ServiceStartError",
]


class BuildError(ServiceStartError):
    """Raised when resolving the jars or building the FerretDB launcher fails."""
