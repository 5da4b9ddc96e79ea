"""Benchmarks of each service and of the whole flow: the load drivers here, and in figures/
the figures `make bench` records (scripts/bench.py runs them)."""
