"""Demo: a bot that stops heartbeating after a while (a hang), so the supervisor restarts it."""

import random
import time

from tui_monitor import client

for i in range(random.randint(4, 10)):
    client.heartbeat(f"working {i}")
    print(f"hangs: step {i}", flush=True)
    time.sleep(1)
print("hangs: now stuck in a deadlock (no more heartbeats)", flush=True)
while True:
    time.sleep(3600)
