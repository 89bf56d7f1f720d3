"""Idle: print a line every PRINT_EVERY seconds; with HEARTBEAT_EVERY > 0 also heartbeat."""

import os
import sys
import time

stamps, print_every, beat_every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fd = os.open(stamps, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % time.time())
os.close(fd)
if beat_every > 0:
    from tui_monitor import client

    n = 0
    while True:
        if n % round(print_every / beat_every) == 0:
            print(f"idle {time.time():.3f} still here", flush=True)
        client.heartbeat("idle")
        n += 1
        time.sleep(beat_every)
else:
    while True:
        print(f"idle {time.time():.3f} still here", flush=True)
        time.sleep(print_every)
