"""Helpers shared by the peers: a bound socket on a free port, announced on stdout."""

from __future__ import annotations

import socket
import time

import orjson

__all__ = ["announce", "bound_socket", "now_iso"]


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listener says TCP explicitly; without it Nagle adds ~40 ms to keep-alive responses.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def announce(sock: socket.socket) -> None:
    print(orjson.dumps({"port": sock.getsockname()[1]}).decode(), flush=True)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
