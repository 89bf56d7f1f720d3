"""Log capture: N lines of exactly 100 bytes as fast as it can, through normal buffered stdout."""

import time

T0 = time.time()

import os  # noqa: E402
import sys  # noqa: E402

stamps, count, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(stamps, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\n" % T0)
pad = "x" * (100 - 1 - 9 - len(tag) - 1)
write = sys.stdout.write
for i in range(count):
    write(f"{tag} {i:09d}{pad}\n")
sys.stdout.flush()
os.write(fd, b"E %.6f\n" % time.time())
