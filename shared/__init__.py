"""Aviary's common library, one folder per concern (top level: what every process needs).

- settings, errors, events, observability, release: configuration, the error type, the event
  contracts, logs and metrics, the version.
- runtime, serve, opscli: a service process's long-lived parts, its start, the operator CLI.
- heaps: priority queues whose entries go stale (dispatch's and review's work in memory).
- domain/: rules more than one service applies (annotations, geometry, the project read model).
- messaging/: RabbitMQ topology, publishing, consuming, retries, the outbox, idempotent handlers.
- store/: MongoDB, object storage, presigned URLs, group commit, retention.
- security/: tokens, revocation, rate limits, outbound URL checks, the audit log.
- web/: the app factory, dependencies, body limits, idempotency keys, fast routes, pages (which
  are served from the top-level web/ folder).
"""
