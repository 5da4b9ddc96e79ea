"""Benchmarks of each service and of the whole flow (`make bench`, scripts/bench.py)."""
