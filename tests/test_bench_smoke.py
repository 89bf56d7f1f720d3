"""The benchmark harness runs in smoke mode (tiny sizes), so it never rots. No timing asserted.

`make test` does not install the `bench` extra: supervisord is used only when it is installed,
and pm2 only when a previous `make bench` left it in bench/.cache (smoke runs never install it).
The skipped peers are named in the output, and the sections are there either way.
"""

import subprocess

import pytest

from tests.conftest import PYTHON, ROOT

SECTIONS = [
    "## Goals",
    "## 1. Restart latency",
    "## 2. Heartbeat-miss detection (tui-monitor only)",
    "## 3. Idle cost",
    "## 4. Log capture",
    "## 5. Crash loop with default settings",
    "## 6. State: checkpoints and history",
    "## 7. Dashboard and command start-up",
    "## Clean-up",
]


@pytest.mark.timeout(180)
def test_bench_smoke_runs() -> None:
    result = subprocess.run(
        [PYTHON, "-m", "bench", "--smoke", "--no-pm2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stderr[-4000:] + result.stdout[-4000:]
    out = result.stdout
    for header in SECTIONS:
        assert header in out, f"missing {header!r}"
    assert "The scenario failed" not in out
    assert "| checkpoints/s sent by one strategy (coalesced) |" in out
    assert "| floor |" in out and "| tui-monitor |" in out
    assert "pm2: skipped" in out  # and says why
