"""The benchmark harness runs in smoke mode (tiny sizes), so it never rots. No timing asserted."""

import subprocess

from tests.conftest import PYTHON, ROOT


def test_bench_smoke_runs() -> None:
    result = subprocess.run(
        [PYTHON, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "## State: checkpoints and history" in result.stdout
    assert "| checkpoints/s sent by one strategy (coalesced) |" in result.stdout
