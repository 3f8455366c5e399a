"""The fan-out peer without the flusher (direct writes per event), for A/B runs."""

from __future__ import annotations

import os

import trio

from tests.gateway.ws import fanout_peer

if __name__ == "__main__":
    os.environ["PARLEY_WS_CORK"] = "0"
    trio.run(fanout_peer.main)
