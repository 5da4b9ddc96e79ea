"""Aviary's common library: settings, events, messaging, Mongo, storage, auth, observability."""
