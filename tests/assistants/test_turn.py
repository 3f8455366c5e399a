"""A turn on the REAL model server: records in order, stop frees the server, errors finish it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from adapters import ChatCompletions, ChatMessage, ChatRequest, LlmOptions
from assistants import Turn
from infra import LlmServer, find_free_port
from protocol.turns import TurnDelta, TurnFinished, TurnRecord, TurnStarted, TurnText

pytestmark = pytest.mark.integration


def _started(turn_id: str) -> TurnStarted:
    return TurnStarted(
        thread_id="t_1",
        turn_id=turn_id,
        assistant_id="plugin:helper",
        reply_to="m_1",
        message_id=f"m_{turn_id}",
        started_at="2026-12-02T14:00:00.000Z",
    )


def _request(question: str, max_tokens: int) -> ChatRequest:
    return ChatRequest(
        messages=(ChatMessage("user", question),), max_tokens=max_tokens, temperature=0.0, seed=42
    )


@pytest.fixture
async def llm(llm_server: LlmServer) -> AsyncIterator[ChatCompletions]:
    options = LlmOptions(base_url=llm_server.base_url, api_key="", model="SmolLM2-135M-Instruct")
    async with ChatCompletions(options) as client:
        yield client


class Recorder:
    def __init__(self) -> None:
        self.records: list[TurnRecord] = []
        self.deltas = 0
        self.third = trio.Event()

    async def __call__(self, record: TurnRecord) -> None:
        self.records.append(record)
        if isinstance(record, TurnDelta):
            self.deltas += 1
            if self.deltas == 3:
                self.third.set()

    def joined(self) -> str:
        return "".join(r.text for r in self.records if isinstance(r, TurnDelta))


async def test_a_complete_turn_sends_started_numbered_deltas_and_finished(
    llm: ChatCompletions,
) -> None:
    sink = Recorder()
    outcome = await Turn(_started("u1"), llm, _request("Name three colours.", 24), sink).run()
    started, *deltas, finished = sink.records
    assert started == _started("u1")
    assert [d.index for d in deltas if isinstance(d, TurnDelta)] == list(range(len(deltas)))
    assert finished == outcome.finished
    assert isinstance(finished, TurnFinished) and finished.status == "complete"
    assert finished.deltas == len(deltas) and finished.message_id == "m_u1"
    assert outcome.text == sink.joined() and outcome.text.strip()
    assert outcome.first_delta_s is not None
    again = await Turn(_started("u2"), llm, _request("Name three colours.", 24), Recorder()).run()
    assert again.text == outcome.text  # seed 42, temperature 0


async def test_stop_ends_the_turn_as_stopped_with_the_partial_text_and_frees_the_server(
    llm: ChatCompletions, llm_server: LlmServer
) -> None:
    sink = Recorder()
    turn = Turn(_started("u3"), llm, _request("Write a long story about the sea.", 1500), sink)
    late = None
    async with trio.open_nursery() as nursery:
        results: list[object] = []

        async def run() -> None:
            results.append(await turn.run())

        nursery.start_soon(run)
        await sink.third.wait()
        late = turn.snapshot()  # a subscriber joining now
        turn.stop("stopped by bob")
        turn.stop("stopped by carol")  # the first reason wins
    finished = sink.records[-1]
    assert isinstance(finished, TurnFinished)
    assert (finished.status, finished.reason) == ("stopped", "stopped by bob")
    assert finished.message_id == "m_u3" and finished.deltas == sink.deltas >= 3
    assert turn.text.text == sink.joined()
    # The late subscriber's snapshot plus the deltas after it is the same text.
    assert late is not None
    view = TurnText(late)
    for record in sink.records:
        if isinstance(record, TurnDelta):
            view.apply(record)
    assert view.text == sink.joined()
    root = llm_server.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=root) as probe:
        with trio.fail_after(1):
            while any(s["is_processing"] for s in (await probe.get("/slots")).json()):  # noqa: ASYNC110
                await trio.sleep(0.02)


async def test_a_model_server_that_is_down_finishes_the_turn_as_error_with_the_reason() -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    sink = Recorder()
    async with ChatCompletions(LlmOptions(base_url=url, api_key="", model="m")) as down:
        outcome = await Turn(_started("u4"), down, _request("hi", 8), sink).run()
    assert [type(r) for r in sink.records] == [TurnStarted, TurnFinished]
    assert outcome.finished.status == "error"
    assert outcome.finished.reason is not None
    assert outcome.finished.reason.startswith(f"the model server at {url} cannot be reached: ")
    assert outcome.finished.message_id is None and outcome.text == ""


async def test_a_stop_before_the_first_token_stores_nothing(llm: ChatCompletions) -> None:
    sink = Recorder()
    turn = Turn(_started("u5"), llm, _request("hello", 8), sink)
    turn.stop("stopped by alice")
    outcome = await turn.run()
    assert (outcome.finished.status, outcome.finished.message_id) == ("stopped", None)
    assert outcome.finished.deltas == 0
