"""The floor: the least any supervisor can do. For each program, a thread that starts the child
with its output straight to a file, waits for it, and starts it again — no policy, no state, no
capture. `python bench/floor.py SPEC.json`; SIGTERM ends the children and the loop.

SPEC: {"programs": [{"name", "argv", "cwd", "out", "restart": bool, "shell": bool}]}. With
"shell", the child runs as `sh -c 'exec ARGV > OUT'`: plain shell redirection.

Standard library only, and nothing else imported, so its own cost is the interpreter's.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading

stopping = threading.Event()
children: dict[str, subprocess.Popen[bytes]] = {}
lock = threading.Lock()


def keep(program: dict) -> None:
    argv = program["argv"]
    with open(program["out"], "ab") as out:
        while True:
            with lock:  # the main thread takes it to stop: no start can slip in after
                if stopping.is_set():
                    return
                if program.get("shell"):
                    line = f"exec {shlex.join(argv)} > {shlex.quote(program['out'])} 2>&1"
                    child = subprocess.Popen(["sh", "-c", line], cwd=program["cwd"])
                else:
                    child = subprocess.Popen(
                        argv,
                        cwd=program["cwd"],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                children[program["name"]] = child
            child.wait()
            if not program.get("restart", True):
                return


def main() -> int:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threads = [threading.Thread(target=keep, args=(p,), daemon=True) for p in spec["programs"]]
    for thread in threads:
        thread.start()
    while not stopping.is_set():
        signal.pause()
    with lock:
        stopping.set()
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
