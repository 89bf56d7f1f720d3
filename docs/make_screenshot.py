"""Regenerate docs/dashboard.svg: the dashboard over the bundled demo, after it has run a while.

    .venv/bin/python docs/make_screenshot.py

Uses Textual's own screenshot feature (an SVG of the real screen, real strategies).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tui_monitor.config import load_config
from tui_monitor.demo import write_demo_config
from tui_monitor.host import SupervisorHost
from tui_monitor.tui.app import MonitorApp
from tui_monitor.tui.feed import FeedSettings

OUT = Path(__file__).resolve().parent / "dashboard.svg"


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_demo_config(Path(tmp)))
        app = MonitorApp(
            host=SupervisorHost(config, subreaper=False),
            mode="run",
            feed_settings=FeedSettings(snapshot_every=0.5),
        )
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause(seconds)
            await pilot.press("down", "down")  # follow the feed's log
            await pilot.pause(2.0)
            OUT.write_text(app.export_screenshot(title="tui-monitor demo"))
            await app.host.stop()  # type: ignore[union-attr]
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 12.0))
