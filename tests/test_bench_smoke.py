"""The benchmark harness runs in smoke mode (tiny sizes), so it never rots. No timing asserted.

`make test` does not install the `bench` extra: supervisord is used only when it is installed,
and pm2 only when a previous `make bench` left it in bench/.cache (smoke runs never install it).
The skipped peers are named in the output, and the sections are there either way.
"""

import subprocess

import pytest

from tests.conftest import PYTHON, ROOT

#: Three runs of three scenarios each, so that pytest-xdist spreads them over its workers (one
#: run of all took ~55 s of a 3-minute suite on one worker).
GROUPS = {
    "restart-heartbeat-idle": {
        "restart": "## 1. Restart latency",
        "heartbeat": "## 2. Heartbeat-miss detection (tui-monitor only)",
        "idle": "## 3. Idle cost",
    },
    "logs-crashloop-state": {
        "logcapture": "## 4. Log capture",
        "crashloop": "## 5. Crash loop with default settings",
        "state": "## 6. State: checkpoints and history",
    },
    "dashboard-sweep-soak": {
        "dashboard": "## 7. Dashboard and command start-up",
        "sweep": "## Metrics sweep cost",
        "soak": "## 8. Soak: memory, descriptors and threads over time",
    },
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("group", list(GROUPS))
def test_bench_smoke_runs(group: str) -> None:
    scenarios = GROUPS[group]
    result = subprocess.run(
        [PYTHON, "-m", "bench", "--smoke", "--no-pm2", "--only", *scenarios],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-4000:]
    out = result.stdout
    for header in ["## Goals", *scenarios.values(), "## Clean-up"]:
        assert header in out, f"missing {header!r}"
    assert "The scenario failed" not in out
    assert "pm2: skipped" in out  # and says why
    if "state" in scenarios:
        assert "| checkpoints/s sent by one strategy (coalesced) |" in out
    if "restart" in scenarios:
        assert "| floor |" in out and "| tui-monitor |" in out
