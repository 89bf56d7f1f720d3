"""Demo: a finite batch job that reports progress, checkpoints, and exits 0 when done."""

import time

from tui_monitor import client

state = client.resume_state() or {"done": 0}
TOTAL = 40
while state["done"] < TOTAL:
    state["done"] += 1
    client.heartbeat(f"item {state['done']}/{TOTAL}", progress=state["done"] / TOTAL)
    client.checkpoint(state)
    time.sleep(0.5)
print("batch complete", flush=True)
