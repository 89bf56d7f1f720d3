"""Benchmarks: `python -m bench` (or `make bench`) runs every scenario and rewrites
docs/benchmarks.md. `--smoke` runs tiny sizes in seconds (the test suite does, so the harness
never rots). Tests check behaviour; only benchmarks measure speed."""
