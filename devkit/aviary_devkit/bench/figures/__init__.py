"""The figures `make bench` records, one module per `BENCH=<name>` (scripts/bench.py lists them).

Each module's `bench_<name>(runs)` brings up what it needs itself, in a namespace of its own,
drives it with the load generators beside this package (`dispatch_bench.py`,
`pipeline_bench.py`, ...) and returns its figures, each the median of `runs` runs.
`setups.py` holds what several of them start from.
"""
