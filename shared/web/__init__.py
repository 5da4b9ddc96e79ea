"""The HTTP side: app factory, dependencies, body limits, idempotency keys, fast routes,
long polls, pages."""
