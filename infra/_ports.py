"""Free TCP ports on 127.0.0.1, for tests and for running several stacks side by side."""

from __future__ import annotations

import socket
from contextlib import ExitStack

__all__ = ["find_free_port", "find_free_ports"]


def find_free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel had free a moment ago (all held open while picking)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def find_free_port() -> int:
    return find_free_ports(1)[0]
