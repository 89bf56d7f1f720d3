"""Restart latency: write when it starts, live 0.5-2 s (argv), write when it crashes, crash."""

import time

T0 = time.time()  # the first statement of a (re)started child

import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402

fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % T0)
time.sleep(random.uniform(float(sys.argv[2]), float(sys.argv[3])))
os.write(fd, b"E %.6f\n" % time.time())  # the last instruction before the crash
os._exit(1)
