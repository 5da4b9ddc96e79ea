"""Aviary's development kit: simulators, benchmark drivers and the process harness.

Never shipped: neither wheel carries it. The tests, `make demo` and `make bench` use it from
the checkout (`make install` installs it editable beside the two distributions).
"""
