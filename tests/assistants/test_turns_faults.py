"""Assistant turns when processes die: no turn is left streaming, nothing is stored twice.

- SIGKILL of the core running a turn (gateway and core as separate processes): the turn's
  lease in the store expires and a core finishes it as `error` (decided: not re-run); the
  thread's next message gets a complete turn from the core that took over.
- SIGTERM of a process mid-turn: the turn is stopped and its partial reply stored within
  the drain, before the process exits 0.
- SIGKILL of the model server mid-reply (a model server of the test's own, not the
  session's): the turn finishes as `error` naming the model server, its partial reply is
  stored with that outcome, the thread takes messages on; restarted on the same port, the
  model server answers the next turn.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pymongo import MongoClient

from config.settings import Settings
from infra import Endpoints, LlmServer, fetch_access_token, find_free_port
from tests.assistants._live import (
    ASSISTANT,
    CONFIG,
    LONG,
    STORY,
    follow,
    new_thread,
    post,
    register_assistant,
    stored_reply,
    watch_turn,
)
from tests.support.server import ParleyProcess, isolated_settings
from tests.support.ws import chat_socket

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokens(services: Endpoints) -> dict[str, str]:
    return {u: fetch_access_token(services.oidc_issuer, u) for u in ("alice", "bob")}


def _collection(settings: Settings, name: str) -> list[dict[str, Any]]:
    with MongoClient(settings.mongo_uri, serverSelectionTimeoutMS=3000) as client:
        return list(client.get_default_database()[name].find({}))


async def test_core_sigkill_mid_turn_leaves_no_turn_streaming(
    settings: Settings, llm_server: LlmServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    chat = isolated_settings(settings, llm_base_url=llm_server.base_url)
    register_assistant(chat.mongo_uri)
    gateway = ParleyProcess(chat, "gateway", log_dir=tmp_path, name="gateway")
    first = ParleyProcess(chat, "core", log_dir=tmp_path, name="core-1")
    second = ParleyProcess(chat, "core", log_dir=tmp_path, name="core-2")
    try:
        await trio.to_thread.run_sync(first.start)
        await trio.to_thread.run_sync(gateway.start)
        async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
            thread = await new_thread(http, tokens["alice"], ["bob", ASSISTANT])
            async with chat_socket(gateway.ws_url, tokens["bob"]) as bob:
                await bob.subscribe(thread)
                await post(http, tokens["alice"], thread, LONG)
                view = await watch_turn(bob, thread, until_deltas=3)
                assert [d["_id"] for d in _collection(chat, "turns")] == [view.turn_id]
                first.kill()
                await trio.to_thread.run_sync(second.start)
                # The lease runs out and a core finishes the turn: the client stops waiting.
                with trio.fail_after(60):
                    while view.finished is None:
                        frame = await bob.next_of("turn", within=60)
                        if frame["turn_id"] == view.turn_id and frame["phase"] == "finished":
                            view.finished = frame
                assert view.finished["status"] == "error", view.finished
                assert view.finished["reason"] == (
                    "the server running this turn stopped before it finished"
                )
                assert _collection(chat, "turns") == []
                # The thread works on: the next question gets a whole turn from the new core.
                await post(http, tokens["alice"], thread, "Say hello.")
                again = await watch_turn(bob, thread)
                assert again.finished is not None
                assert again.finished["status"] == "complete", again.finished
                stored = await stored_reply(http, tokens["alice"], thread, again.turn_id)
                assert stored["text"] == again.text
                assert stored["turn_status"] == "complete"
        second.stop()
        gateway.stop()
    finally:
        for proc in (gateway, first, second):
            proc.kill()


async def test_sigterm_mid_turn_stops_it_and_stores_the_partial_reply(
    settings: Settings, llm_server: LlmServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    chat = isolated_settings(settings, llm_base_url=llm_server.base_url)
    # A reply far longer than the drain takes to reach the thread's actor (the HTTP server
    # and the consumers drain first, ~2 s): LONG's reply ends after 74 tokens, and an idle
    # model server could complete it before the turn is stopped.
    register_assistant(chat.mongo_uri, {**CONFIG, "max_reply_tokens": 1000})
    proc = ParleyProcess(chat, "all", log_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=proc.http_url, timeout=10) as http:
            thread = await new_thread(http, tokens["alice"], [ASSISTANT])
            async with chat_socket(proc.ws_url, tokens["alice"]) as alice:
                await alice.subscribe(thread)
                await post(http, tokens["alice"], thread, STORY)
                view = await watch_turn(alice, thread, until_deltas=3)
                code = await trio.to_thread.run_sync(proc.terminate)
        assert code == 0, proc.tail()
        replies = [m for m in _collection(chat, "messages") if m.get("turn_id") == view.turn_id]
        assert len(replies) == 1, replies
        # What was streamed before the drain, and perhaps a little more.
        assert replies[0]["text"].startswith(view.text)
        assert replies[0]["sender_id"] == ASSISTANT
        # The stored document says the turn was stopped, and why.
        assert replies[0]["turn_status"] == "stopped"
        assert replies[0]["turn_reason"] == "the server is shutting down"
        assert _collection(chat, "turns") == []
    finally:
        proc.kill()


@pytest.fixture
def own_llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    """A model server this test may kill (the session's `llm_server` serves other tests)."""
    server = LlmServer(
        tmp_path_factory.mktemp("own-llm"),
        find_free_port(),
        alias="SmolLM2-135M-Instruct",
        die_with_parent=True,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_model_server_sigkill_mid_turn_finishes_it_as_error_and_a_restart_serves_again(
    settings: Settings, own_llm_server: LlmServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    model = own_llm_server
    chat = isolated_settings(settings, llm_base_url=model.base_url)
    register_assistant(chat.mongo_uri)
    proc = ParleyProcess(chat, "all", log_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=proc.http_url, timeout=10) as http:
            thread = await new_thread(http, tokens["alice"], ["bob", ASSISTANT])
            async with chat_socket(proc.ws_url, tokens["bob"]) as bob:
                await bob.subscribe(thread)
                await post(http, tokens["alice"], thread, LONG)
                view = await watch_turn(bob, thread, until_deltas=3)
                pid = model.pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                await follow(bob, view, within=30)
                finished = view.finished
                assert finished is not None
                assert finished["status"] == "error", finished
                assert finished["reason"].startswith(
                    f"the model server at {model.base_url} broke the connection after "
                ), finished
                # What streamed before the kill is stored, saying how the turn ended.
                stored = await stored_reply(http, tokens["alice"], thread, view.turn_id)
                assert stored["text"] == view.text
                assert stored["turn_status"] == "error"
                assert stored["turn_reason"] == finished["reason"]
                live = [m for m in await bob.messages(thread, 2) if m.get("turn_id")]
                assert [(m["turn_status"], m["turn_reason"]) for m in live] == [
                    ("error", finished["reason"])
                ]
                # The thread takes messages while the model server is down; their turn
                # says why it cannot answer.
                await post(http, tokens["alice"], thread, "Are you there?")
                texts = [m["text"] for m in await bob.messages(thread, 3)]
                assert texts == [LONG, view.text, "Are you there?"]
                down = await watch_turn(bob, thread, within=30)
                assert down.finished is not None
                assert down.finished["status"] == "error", down.finished
                assert down.finished["reason"].startswith(
                    f"the model server at {model.base_url} "
                ), down.finished
                # Restarted on the same port (blocking on purpose: die_with_parent ties the
                # server to the thread that starts it), the next turn completes.
                model.stop()
                model.start()
                await post(http, tokens["alice"], thread, "Say hello.")
                again = await watch_turn(bob, thread)
                assert again.finished is not None
                assert again.finished["status"] == "complete", again.finished
                stored = await stored_reply(http, tokens["alice"], thread, again.turn_id)
                assert (stored["text"], stored["turn_status"]) == (again.text, "complete")
        proc.stop()
    finally:
        proc.kill()
