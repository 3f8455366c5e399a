"""bench/profile_rest.py's reading of py-spy's collapsed stacks (no profiler run here)."""

from __future__ import annotations

import pytest

from bench.profile_rest import own_by_package, summarise_collapsed

_SITE = "/v/lib/python3.11/site-packages"


def test_shares_per_package_are_inclusive_and_functions_own() -> None:
    lines = [
        f"run (trio/_core/_run.py:1);handle ({_SITE}/hypercorn/trio/tcp_server.py:9) 3",
        f"run (trio/_core/_run.py:1);post (/w/gateway/rest.py:5);dumps ({_SITE}/orjson/x.py:1) 1",
        "garbage line",
    ]
    total, shares, own = summarise_collapsed(lines)
    assert total == 4
    assert shares == pytest.approx(
        {"trio": 1.0, "hypercorn": 0.75, "gateway": 0.25, "orjson": 0.25}
    )
    assert own[0] == (f"handle ({_SITE}/hypercorn/trio/tcp_server.py:9)", 0.75)


def test_no_samples() -> None:
    assert summarise_collapsed([]) == (0, {}, [])


def test_own_share_goes_to_the_innermost_frame() -> None:
    lines = [
        f"run (trio/_core/_run.py:1);handle ({_SITE}/hypercorn/trio/tcp_server.py:9) 3",
        "run (trio/_core/_run.py:1) 1",
    ]
    assert own_by_package(lines) == pytest.approx({"hypercorn": 0.75, "trio": 0.25})
