"""Aviary's four services."""
