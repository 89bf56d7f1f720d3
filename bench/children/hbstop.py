"""Heartbeat miss: heartbeat every INTERVAL for a random LO-HI seconds, then hang silently.
Writes S at start, H after every heartbeat sent, T when SIGTERM arrives (then exits)."""

import time

T0 = time.time()

import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from tui_monitor import client  # noqa: E402

stamps, interval, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fd = os.open(stamps, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % T0)


def on_term(signum: int, frame: object) -> None:
    os.write(fd, b"T %.6f\n" % time.time())
    os._exit(0)


signal.signal(signal.SIGTERM, on_term)
end = time.monotonic() + random.uniform(lo, hi)
while True:
    client.heartbeat("ok")
    os.write(fd, b"H %.6f\n" % time.time())
    if time.monotonic() >= end:
        break
    time.sleep(interval)
while True:  # hung: no more heartbeats
    time.sleep(3600)
