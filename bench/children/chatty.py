"""Dashboard load: print a log line every PERIOD seconds (5 lines/s for 1,000 lines/s over 200)."""

import os
import random
import sys
import time

stamps, period = sys.argv[1], float(sys.argv[2])
fd = os.open(stamps, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % time.time())
os.close(fd)
time.sleep(random.uniform(0, period))
n = 0
levels = ["INFO", "INFO", "INFO", "WARNING", "DEBUG"]
while True:
    n += 1
    print(f"{levels[n % 5]} tick {n} price {71200 + n % 50} qty {n % 7}", flush=True)
    time.sleep(period)
