"""The local model server's process: llama.cpp's own HTTP server from the `xllamacpp` wheel.

Run by `infra._llm.LlmServer` as a plain script (not `-m infra...`), so the process loads only
xllamacpp and the standard library: the measured start is the model's load, not Parley's
imports. llama.cpp serves on its own threads; this thread only waits for SIGTERM or SIGINT,
then leaves with `os._exit` (the native server threads are not joined at interpreter exit).

    python serve_model.py --model FILE --port P --threads 1 --ctx-per-slot 2048 --slots 2 \\
        --alias NAME --state-dir DIR
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx-per-slot", type=int, default=2048)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--alias", default="")
    # Only here so that /proc/PID/cmdline names the state directory (see infra._proc).
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()

    # Block the signals before the server's threads start: they inherit the mask, so the
    # signal is delivered to this thread's sigwait and not to a native thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    started = time.monotonic()
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    if args.alias:
        params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    # llama.cpp splits n_ctx between the slots (parallel requests).
    params.n_parallel = args.slots
    params.n_ctx = args.ctx_per_slot * args.slots
    # ONE thread measured fastest on two shared cores: a second one spin-waits (poll) on
    # the other core and makes both slower.
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = True
    params.endpoint_slots = True
    server = xllamacpp.Server(params)
    seconds = time.monotonic() - started
    print(f"parley: model server ready at {server.listening_address} in {seconds:.2f}s", flush=True)
    received = signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print(f"parley: model server stopping ({signal.Signals(received).name})", flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
