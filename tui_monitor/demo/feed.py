"""Demo: a healthy market-data feed that heartbeats with progress and checkpoints its sequence."""

import json
import random
import time

from tui_monitor import client

state = client.resume_state() or {"seq": 0}
print(f"feed starting at seq {state['seq']}", flush=True)
while True:
    state["seq"] += 1
    price = 71_200 + random.randint(-300, 300)
    print(json.dumps({"level": "INFO", "type": "strategy", "msg": f"tick {state['seq']} {price}"}))
    print(f"plain line {state['seq']}", flush=True)
    client.heartbeat(f"seq {state['seq']} last {price}", progress=(state["seq"] % 100) / 100)
    client.checkpoint(state)
    time.sleep(0.5)
