"""Simulators: synthetic scenes, simulated annotators and load generators."""
