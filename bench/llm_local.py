"""The local model server, measured: load, memory, first token, tokens/s, cancel, token estimate.

    .venv/bin/python -m bench.llm_local [--runs 5]

Starts llama.cpp's server (xllamacpp, SmolLM2-135M-Instruct, ONE thread, infra.LlmServer) on a
free port in a temporary state directory, then measures through Parley's own client
(adapters.ChatCompletions): time from launch to /health 200, RSS idle and after the runs, time
to first token and tokens/s per run (temperature 0, seed 42), cancel-to-disconnect (the Trio
scope cancelled after the first token until /slots shows no request processing), and the
tokens `assistants.estimate_tokens` predicts against the server's /tokenize for sample texts.
Not a test: prints a table. Everything shares the machine's two cores: figures move with load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import trio

from adapters import ChatCompletions, ChatMessage, ChatRequest, LlmOptions
from assistants import estimate_tokens
from infra import LlmServer, find_free_port

SAMPLES = {
    "English prose": "The lighthouse keeper climbed the stairs every evening, counting the "
    "steps and listening to the sea. " * 8,
    "Python code": "def handler(request: Request) -> Response:\n    if not request.ok:\n"
    "        return Response(status=400, body={'error': 'bad'})\n" * 6,
    "JSON": '{"thread_id": "t_01H", "seq": 42, "members": ["alice", "bob"], "ok": true}\n' * 6,
    "German": "Die Nachricht wurde gespeichert und an alle Teilnehmer verteilt. " * 8,
    "Chinese": "消息已保存并发送给所有成员。请稍后再试。" * 10,
    "emoji": "🙂🚀🎉👍🏽 " * 30,
    "digits": "3141592653589793238462643383279502884197 " * 8,
    "punctuation": "!@#$%^&*()_+-=[]{};':\",./<>?|\\~` " * 8,
    "markup injection": '<img src=x onerror="alert(1)"><script>alert(2)</script> ' * 8,
    "base64": "U29tZSBiYXNlNjQgZW5jb2RlZCBkYXRhIGZvciB0aGUgdGVzdA==" * 8,
}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _busy(probe: httpx.AsyncClient) -> bool:
    return any(s["is_processing"] for s in (await probe.get("/slots")).json())


async def measure(server: LlmServer, runs: int) -> None:
    root = server.base_url.removesuffix("/v1")
    options = LlmOptions(base_url=server.base_url, api_key="", model="SmolLM2-135M-Instruct")
    topics = ("lighthouses", "bridges", "trains", "rivers", "owls", "maps", "bells", "clocks")

    def ask(run: int) -> ChatRequest:
        # A new question each run: the server caches a repeated prompt, which would flatter
        # the time to first token.
        return ChatRequest(
            messages=(ChatMessage("user", f"Tell me about {topics[run % len(topics)]}."),),
            max_tokens=128,
            temperature=0.0,
            seed=42,
        )

    ttft, rates = [], []
    async with ChatCompletions(options) as llm, httpx.AsyncClient(base_url=root) as probe:
        for run in range(runs):
            times: list[float] = []

            async def on_delta(_text: str, times: list[float] = times) -> None:
                times.append(time.perf_counter())

            sent = time.perf_counter()
            done = await llm.stream(ask(run), on_delta)
            ttft.append(times[0] - sent)
            if done.completion_tokens and len(times) > 1:
                rates.append((done.completion_tokens - 1) / (times[-1] - times[0]))
        print(f"time to first token  p50 {statistics.median(ttft) * 1000:.0f} ms  "
              f"max {max(ttft) * 1000:.0f} ms  ({runs} runs, 128 tokens, 1 thread)")
        print(f"tokens/s             p50 {statistics.median(rates):.1f}  min {min(rates):.1f}")
        pid = server.pid()
        if pid is not None:
            print(f"RSS after runs       {_rss_mb(pid):.0f} MB")

        cancels = []
        for run in range(runs):
            first = trio.Event()
            request = ask(run + 3)

            async def on_first(_text: str, first: trio.Event = first) -> None:
                first.set()

            async with trio.open_nursery() as nursery:
                scope = trio.CancelScope()

                async def one(
                    scope: trio.CancelScope = scope, request: ChatRequest = request
                ) -> None:
                    with scope:
                        await llm.stream(request, on_first)

                nursery.start_soon(one)
                await first.wait()
                cancelled = time.perf_counter()
                scope.cancel()
            while await _busy(probe):  # noqa: ASYNC110 (polling another process)
                await trio.sleep(0.005)
            cancels.append(time.perf_counter() - cancelled)
        print(f"cancel to slot free  p50 {statistics.median(cancels) * 1000:.0f} ms  "
              f"max {max(cancels) * 1000:.0f} ms")

        print("\ntoken estimate vs /tokenize (SmolLM2)")
        print(f"{'text':<18}{'bytes':>7}{'tokens':>8}{'estimate':>10}{'bytes/token':>13}{'est/real':>10}")
        for name, text in SAMPLES.items():
            real = len((await probe.post("/tokenize", json={"content": text})).json()["tokens"])
            est = estimate_tokens(text)
            size = len(text.encode())
            print(f"{name:<18}{size:>7}{real:>8}{est:>10}{size / real:>13.2f}{est / real:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-llm-bench-") as state:
        server = LlmServer(Path(state), find_free_port(), alias="SmolLM2-135M-Instruct")
        started = time.perf_counter()
        server.start()
        loaded = time.perf_counter() - started
        try:
            pid = server.pid()
            rss = _rss_mb(pid) if pid is not None else float("nan")
            print(f"load (launch to /health 200)  {loaded:.2f} s   RSS idle {rss:.0f} MB")
            print(f"server log: {server.log_tail(1)}")
            trio.run(measure, server, args.runs)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
