"""Assistants scenario (issue 16): what Parley adds to a streamed reply, and what streaming
turns cost the chat.

One local model server (llama.cpp serving SmolLM2-135M-Instruct, one CPU thread, 4 slots,
temperature 0 and a fixed seed) and one Parley on it (`PARLEY_TURN_CONCURRENCY=4`, the turn
rate per user lifted like the message rate). The assistant's config is written to the store
as the plugin host writes a loaded assistant plugin's (`assistants` collection; the plugin
host is not on a turn's path, the core is).

First token (alternating rounds, each side first in every other round):
- `parley`: a fresh thread with the assistant, a WebSocket subscriber on it; from the user's
  `send` on that socket (as the browser sends) to each `turn` delta frame it receives, and
  to `finished`;
- `model direct`: the same prompt (built by `assistants.build_prompt` from the same system
  prompt and sender) POSTed to the model's chat-completions API, from the request to each
  server-sent chunk, and to `[DONE]`.
Every request has a question of its own (`_turn_figures.question`): the model server's prompt
cache then serves both sides the same shared prefix and nothing more. A warm-up round asks
both sides the same question: the same reply text shows the direct prompt is Parley's.
Parley's added latency = its time to first token minus the model's (the model's own time
cancels out): the difference of the two sides' p50/p99, and p50/p99 of the per-round
differences.

Chat while turns stream (alternating rounds, the e2e job at a fixed rate): none, 4 assistant
turns streaming in other threads (looped: each thread asks again when its turn finishes), and
4 streams straight from the model (the model's CPU on these shared cores, without Parley's
turn work). The goal is e2e p99 with turns / without <= 1.1.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import trio

from bench._cpu import CpuWindow
from bench._e2e import _job
from bench._errors import BenchError
from bench._procs import quiesce, run_generator
from bench._results import Row
from bench._scenarios import Bench, _ms
from bench._targets import ParleyTarget
from bench._turn_clients import (
    ASSISTANT,
    ASSISTANT_LONG,
    CONFIG,
    FIRST_TOKEN_MAX_TOKENS,
    MODEL,
    STREAM_MAX_TOKENS,
    STREAMS,
    Background,
    Load,
    Side,
    direct_body,
    direct_stream,
    through_parley,
    watching,
)
from bench._turn_figures import Stream, added_latency, percentile, question, round_plan

__all__ = ["run_assistants"]

_NONE = "parley, no turns"
_MODEL_ONLY = "parley, 4 streams model-direct"
_DIRECT = "model direct"


async def _first_tokens(
    target: ParleyTarget, model_url: str, rounds: int
) -> tuple[list[Stream], list[Stream], bool]:
    """`rounds` alternating rounds; and whether the warm-up replies matched."""
    token = target.tokens(1)[0]
    members = [*target._users[:2], ASSISTANT]
    async with (
        httpx.AsyncClient(base_url=target._api, timeout=30) as http,
        httpx.AsyncClient(base_url=model_url.rstrip("/") + "/", timeout=60) as model,
        watching(target, token) as watch,
    ):
        side = Side(http, model, watch, token, members)
        # Warm-up (not counted): connections, the model's caches, and the check that the
        # direct request is Parley's: the same question must get the same reply.
        warm = question(100)
        via_parley = await through_parley(side, warm)
        direct = await direct_stream(model, direct_body(side.sender, warm, FIRST_TOKEN_MAX_TOKENS))
        same = via_parley.text == direct.text
        parley_runs: list[Stream] = []
        direct_runs: list[Stream] = []
        for r in range(rounds):
            plan = round_plan(r)

            async def parley(n: int = plan.parley_n) -> None:
                parley_runs.append(await through_parley(side, question(n)))

            async def straight(n: int = plan.direct_n) -> None:
                body = direct_body(side.sender, question(n), FIRST_TOKEN_MAX_TOKENS)
                direct_runs.append(await direct_stream(model, body))

            for step in (parley, straight) if plan.parley_first else (straight, parley):
                await step()
        return parley_runs, direct_runs, same


def _first_token_rows(bench: Bench, parley: list[Stream], direct: list[Stream], same: bool) -> None:
    add = bench.results.add
    firsts = added_latency([s.first for s in parley], [s.first for s in direct])
    n = len(parley)
    how = f"{n} turns each way, alternating, {FIRST_TOKEN_MAX_TOKENS} tokens max"
    for q, mine, theirs in (
        ("p50", firsts.parley_p50, firsts.direct_p50),
        ("p99", firsts.parley_p99, firsts.direct_p99),
    ):
        add(
            Row(
                scenario="assistants",
                metric=f"time to first token {q}",
                unit="ms",
                better="lower",
                values=[mine * 1000],
                peer=_DIRECT,
                peer_values=[theirs * 1000],
                note="Parley: WebSocket `send` -> first delta frame on the same socket; direct: "
                f"chat-completions POST -> first chunk; {how}",
            )
        )
    for name, value, note in (
        ("added to first token p50 (Parley p50 - direct p50)", firsts.added_p50, how),
        ("added to first token p99 (Parley p99 - direct p99)", firsts.added_p99, how),
        ("added to first token, per-round difference p50", firsts.paired_p50, how),
        ("added to first token, per-round difference p99", firsts.paired_p99, how),
    ):
        add(Row("assistants", name, "ms", "lower", [value * 1000], note=note))
    for pct in (50, 99):
        add(
            Row(
                "assistants",
                f"send -> `started` frame p{pct} (Parley's path, no model)",
                "ms",
                "lower",
                [percentile([s.started for s in parley], pct) * 1000],
                note="the core sends `started` once it has read the history, built the "
                "prompt and taken the turn's lease, right before it asks the model; with "
                "the deltas' way out the same as `started`'s, this is Parley's added latency "
                "without the model's noise in it",
            )
        )
    gaps_p = [g for s in parley for g in s.gaps()]
    gaps_d = [g for s in direct for g in s.gaps()]
    for name, mine_v, theirs_v, note in (
        (
            "whole turn p50",
            percentile([s.end for s in parley], 50),
            percentile([s.end for s in direct], 50),
            "Parley: `send` -> `finished` frame (sent once the reply is in Kafka); direct: "
            "-> [DONE]",
        ),
        (
            "whole turn p99",
            percentile([s.end for s in parley], 99),
            percentile([s.end for s in direct], 99),
            "",
        ),
        (
            "gap between deltas p50",
            percentile(gaps_p, 50),
            percentile(gaps_d, 50),
            f"{len(gaps_p)} / {len(gaps_d)} gaps",
        ),
        ("gap between deltas p99", percentile(gaps_p, 99), percentile(gaps_d, 99), ""),
    ):
        add(
            Row(
                "assistants",
                name,
                "ms",
                "lower",
                [mine_v * 1000],
                peer=_DIRECT,
                peer_values=[theirs_v * 1000],
                note=note,
            )
        )
    pieces = (
        percentile([len(s.pieces) for s in parley], 50),
        percentile([len(s.pieces) for s in direct], 50),
    )
    bench.results.notes.append(
        f"assistants: first-token rounds: {n} each way; deltas per reply p50 {pieces[0]:.0f} "
        f"(Parley) / {pieces[1]:.0f} (direct); warm-up replies "
        + (
            "identical (the direct prompt is Parley's)"
            if same
            else "DIFFER: the direct prompt may not be Parley's"
        )
    )


def _cores(window: CpuWindow, edges: dict[str, float]) -> dict[str, float]:
    """CPU seconds per second of the generator's window, per group."""
    seconds = edges.get("stop", 0.0) - edges.get("start", 0.0)
    if not window.complete or seconds <= 0:
        return {}
    return {g: (window.after[g] - window.before[g]) / seconds for g in window.before}


def _median(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else math.nan


# --- the scenario --------------------------------------------------------------------------
def _register(target: ParleyTarget, mongo_uri: str) -> None:
    """What the plugin host writes for a loaded assistant plugin (assistants.AssistantDirectory)."""
    from pymongo import MongoClient
    from pymongo.collection import Collection

    uri = mongo_uri.rsplit("/", 1)[0] + f"/{target.database}"
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
        assistants: Collection[dict[str, Any]] = client.get_default_database()["assistants"]
        for member, max_tokens in (
            (ASSISTANT, FIRST_TOKEN_MAX_TOKENS),
            (ASSISTANT_LONG, STREAM_MAX_TOKENS),
        ):
            config = {**CONFIG, "max_reply_tokens": max_tokens}
            assistants.replace_one(
                {"_id": member}, {"config": config, "version": "bench"}, upsert=True
            )


@contextlib.contextmanager
def _model_server(tmp: Path) -> Iterator[Any]:
    from infra import LlmServer, find_free_port

    server = LlmServer(tmp / "llm", find_free_port(), slots=STREAMS, alias=MODEL)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_assistants(bench: Bench) -> None:
    cfg = bench.cfg
    if bench.endpoints is None:
        raise BenchError("the assistants scenario needs Parley's services")
    with (
        tempfile.TemporaryDirectory(prefix="parley-bench-assist-") as tmp,
        _model_server(Path(tmp)) as llm,
    ):
        run = uuid.uuid4().hex[:8]
        llm_pid = llm.pid()
        target = ParleyTarget(
            cfg.users,
            bench.endpoints,
            [*bench.services.values(), *([llm_pid] if llm_pid is not None else [])],
            extra_env={
                "PARLEY_LLM_BASE_URL": llm.base_url,
                "PARLEY_LLM_MODEL": MODEL,
                "PARLEY_TURN_CONCURRENCY": str(STREAMS),
                # The bench's users ask far more often than people do.
                "PARLEY_TURNS_PER_USER_PER_MINUTE": "1000000",
                "PARLEY_TURNS_TOPIC": f"bench.{run}.turns",
            },
        )
        try:
            _register(target, bench.endpoints[1])
            parley, direct, same = trio.run(_first_tokens, target, llm.base_url, cfg.assist_turns)
            _first_token_rows(bench, parley, direct, same)
            _chat_while_streaming(bench, target, llm.base_url, llm_pid)
        finally:
            target.close()


def _chat_while_streaming(
    bench: Bench, target: ParleyTarget, model_url: str, llm_pid: int | None
) -> None:
    """The e2e job in alternating rounds: no turns, 4 turns streaming, 4 model-only streams."""
    cfg = bench.cfg
    rate = cfg.assist_e2e_rate
    job = _job(bench, rate, cfg.e2e_duration_s)
    arms: dict[str, Callable[[], contextlib.AbstractContextManager[Load | None]]] = {
        _NONE: lambda: contextlib.nullcontext(None),
        "parley": lambda: Background(target, model_url, through_parley=True),
        _MODEL_ONLY: lambda: Background(target, model_url, through_parley=False),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in arms}
    loads: dict[str, list[Load]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(cfg.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            spec = job(target, r)
            quiesce(target.pids, sample_s=0.2 if cfg.tiny else 0.5)
            groups = {"parley": target.app_pids, "model": [llm_pid] if llm_pid else []}
            window = CpuWindow(groups)
            edges: dict[str, float] = {}

            def on_window(
                edge: str, _pid: int, window: CpuWindow = window, edges: dict[str, float] = edges
            ) -> None:
                window.mark(edge)
                edges[edge] = time.monotonic()

            with arms[name]() as load:
                result = run_generator(spec, prefer=cfg.generator, on_window=on_window)
            result["cores"] = _cores(window, edges)
            if "error" in result:
                raise BenchError(f"{name}: {result['error']} {result.get('errors', '')}")
            bench.results.generators[spec["kind"]] = result["generator"]
            runs[name].append(result)
            if load is not None:
                loads[name].append(load)
    mine = runs["parley"]
    for peer in (_NONE, _MODEL_ONLY):
        for q in ("p50", "p99"):
            bench.results.add(
                Row(
                    scenario="assistants",
                    metric=f"e2e {q} at {rate:.0f} msg/s, 4 turns streaming",
                    unit="ms",
                    better="lower",
                    values=[_ms(q)(x) for x in mine],
                    peer=peer,
                    peer_values=[_ms(q)(x) for x in runs[peer]],
                    note=f"{cfg.rounds} rounds per arm, alternating",
                )
            )
    bench.results.add(
        Row(
            scenario="assistants",
            metric="e2e delivered, 4 turns streaming",
            unit="fraction",
            better="higher",
            values=[x["deliveries"] / max(1, x["expected"]) for x in mine],
            peer=_NONE,
            peer_values=[x["deliveries"] / max(1, x["expected"]) for x in runs[_NONE]],
        )
    )
    for group in ("parley", "model"):
        bench.results.add(
            Row(
                scenario="assistants",
                metric=f"CPU of the {group} process in the e2e window, 4 turns streaming",
                unit="cores",
                better="lower",
                values=[x["cores"].get(group, math.nan) for x in mine],
                peer=_NONE,
                peer_values=[x["cores"].get(group, math.nan) for x in runs[_NONE]],
                note=f"CPU seconds / window seconds; with 4 model-only streams: "
                f"{_median([x['cores'].get(group, math.nan) for x in runs[_MODEL_ONLY]]):.2f}",
            )
        )
    for name, label in (("parley", "assistant turns"), (_MODEL_ONLY, "model-direct streams")):
        ls = loads[name]
        errors = [e for x in ls for e in x.errors]
        bench.results.notes.append(
            f"assistants: while the e2e window ran, {STREAMS} {label} streamed "
            f"({STREAM_MAX_TOKENS} tokens max each, looped): {sum(x.turns for x in ls)} "
            f"finished, {sum(x.deltas for x in ls)} deltas over {len(ls)} rounds"
            + (f"; not complete: {errors[:3]}" if errors else "")
        )
    bench.results.notes.append(
        "assistants: the model server (llama.cpp, one thread) runs on the same two cores: "
        f"`{_MODEL_ONLY}` is the chat with the model busy but no turn in Parley, so the "
        "ratio to it is Parley's own share of the slowdown"
    )
