"""Demo: a trading bot that crashes now and then and resumes from its checkpoint."""

import random
import sys
import time

from tui_monitor import client

state = client.resume_state() or {"orders": 0}
print(f"crashy resuming with {state['orders']} orders placed", flush=True)
crash_at = time.monotonic() + random.uniform(5, 15)
while time.monotonic() < crash_at:
    state["orders"] += 1
    client.log(f"BUY 10 005930 @ 71,200 (order {state['orders']})", type="order")
    client.checkpoint(state, durable=True)
    client.heartbeat(f"{state['orders']} orders")
    time.sleep(1)
print("crashy: simulated crash (exit 1)", file=sys.stderr, flush=True)
sys.exit(1)
