"""Errors that end a `parley` command with one clear line for the operator.

    ParleyError                   base: the message is what the operator reads
    ├── MissingToolError          a required program (java, go, npm, chromium) is absent
    ├── ServiceStartError         a local service did not become ready in time
    └── ConfigurationError        a setting is invalid or contradicts another
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "MissingToolError", "ParleyError", "ServiceStartError"]


class ParleyError(Exception):
    """Base of every operator-facing failure; str(exc) is a complete sentence."""


class MissingToolError(ParleyError):
    """Raised when a program Parley needs is not installed; names the install command."""


class ServiceStartError(ParleyError):
    """Raised when a local service did not answer its readiness check within its deadline."""


class ConfigurationError(ParleyError):
    """Raised when a setting is invalid; names the environment variable."""
