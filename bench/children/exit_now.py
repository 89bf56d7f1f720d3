"""Crash loop: write when it starts and exit with status 1 at once."""

import os
import sys
import time

fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % time.time())
print("failing at once", flush=True)
sys.exit(1)
