"""Chaos fixtures: a services stack of its own, sizes from the command line, the report.

Options (`make chaos` passes `--chaos-long`; they are registered when pytest is pointed at
`tests/chaos`, and default to the smoke size otherwise):

    --chaos-long            long sizes: more messages, several fault rounds per test
    --chaos-messages N      message budget of each run
    --chaos-rate R          messages per second over all posters
    --chaos-rounds K        inject/heal rounds per fault test
    --chaos-posters P       posters (half REST, half WebSocket)

The same knobs can come from PARLEY_CHAOS_{LONG,MESSAGES,RATE,ROUNDS,POSTERS}.
The table of every run is written to tests/artifacts/chaos/latest.md (and printed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from config.errors import ServiceStartError
from infra import Endpoints, LocalServices, Ports
from tests.chaos.checks import REPORT, ROWS, TITLE
from tests.chaos.driver import LoadPlan
from tests.chaos.scenario import Size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos")
    group.addoption("--chaos-long", action="store_true", default=False, help="long chaos sizes")
    group.addoption("--chaos-messages", type=int, default=None, help="messages per run")
    group.addoption("--chaos-rate", type=float, default=None, help="messages/s per run")
    group.addoption("--chaos-rounds", type=int, default=None, help="fault rounds per test")
    group.addoption("--chaos-posters", type=int, default=None, help="posters per run")


def _opt(config: pytest.Config, name: str, env: str) -> str | None:
    try:
        value = config.getoption(name)
    except ValueError:  # the option is not registered (pytest was not pointed at tests/chaos)
        value = None
    if value in (None, False):
        value = os.environ.get(env) or None
    return None if value is None else str(value)


@pytest.fixture(scope="session")
def chaos_size(pytestconfig: pytest.Config) -> Size:
    long = (_opt(pytestconfig, "chaos_long", "PARLEY_CHAOS_LONG") or "") not in ("", "0", "False")
    messages = _opt(pytestconfig, "chaos_messages", "PARLEY_CHAOS_MESSAGES")
    rate = _opt(pytestconfig, "chaos_rate", "PARLEY_CHAOS_RATE")
    rounds = _opt(pytestconfig, "chaos_rounds", "PARLEY_CHAOS_ROUNDS")
    posters = _opt(pytestconfig, "chaos_posters", "PARLEY_CHAOS_POSTERS")
    if long:
        plan = LoadPlan(posters=8, rate=120.0, max_messages=6000)
        size = Size(plan=plan, rounds=3, lead_s=4.0, tail_s=5.0, readers=3, threads=8)
    else:
        plan = LoadPlan(posters=4, rate=40.0, max_messages=600)
        size = Size(plan=plan, rounds=1, lead_s=1.0, tail_s=1.0, readers=2, threads=4)
    plan = LoadPlan(
        posters=int(posters) if posters else plan.posters,
        rate=float(rate) if rate else plan.rate,
        max_messages=int(messages) if messages else plan.max_messages,
    )
    TITLE[0] = (
        f"Parley chaos run ({'long' if long else 'smoke'}: {plan.posters} posters, "
        f"{plan.rate:g} msg/s, ≤{plan.max_messages} messages, "
        f"{int(rounds) if rounds else size.rounds} round(s) per fault)"
    )
    return Size(
        plan=plan,
        rounds=int(rounds) if rounds else size.rounds,
        lead_s=size.lead_s,
        tail_s=size.tail_s,
        readers=size.readers,
        threads=size.threads,
    )


@pytest.fixture(scope="session")
def chaos_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """Kafka, FerretDB and the OIDC provider for chaos only: these get killed."""
    state_dir = tmp_path_factory.mktemp("chaos-state")
    for attempt in (1, 2):
        stack = LocalServices(Ports.free(), state_dir, die_with_parent=True)
        try:
            stack.start()
            break
        except ServiceStartError:
            if attempt == 2:
                raise
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def chaos_endpoints(chaos_services: LocalServices) -> Endpoints:
    return chaos_services.endpoints()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS and REPORT.exists():
        terminalreporter.write_sep("=", "chaos report")
        terminalreporter.write_line(REPORT.read_text())
        terminalreporter.write_line(f"saved to {REPORT}")
