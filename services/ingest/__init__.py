"""Ingest: the client-facing data API (projects, batches, uploads) and the identity registry."""
