"""The listener peer without the flusher (direct writes per event), for A/B runs."""

from __future__ import annotations

import os

import trio

from bench.peers import ws_listener

if __name__ == "__main__":
    os.environ["PARLEY_WS_CORK"] = "0"
    trio.run(ws_listener.main)
