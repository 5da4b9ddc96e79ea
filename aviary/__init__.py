"""Aviary client tools: SDK, command line and simulators."""
