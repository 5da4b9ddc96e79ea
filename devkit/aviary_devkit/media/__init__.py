"""Media the tests, the simulator and the benchmarks make: videos with known content."""
