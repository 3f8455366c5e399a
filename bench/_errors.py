"""Errors of the bench harness.

Exception
└── BenchError            a scenario cannot run: a server did not start, a generator
                          failed or timed out, Parley never became ready. The harness
                          records it for that scenario and goes on with the others.
"""

from __future__ import annotations

__all__ = ["BenchError"]


class BenchError(Exception):
    """Raised when a scenario cannot produce figures; the message says why in one line."""
