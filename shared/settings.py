"""One settings object for every service, read from `AVIARY_*` environment variables."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "ingest": 8001,
    "dispatch": 8002,
    "review": 8003,
    "export": 8004,
    "assist": 8005,
}

# Credentials that only the embedded stack may use: they are in this file for anyone to read.
LOCAL_SECRETS = {
    "auth_secret": "aviary-local-auth-secret-change-me",
    "operator_key": "aviary-local-operator-key",
    "s3_secret_key": "aviary-local-secret",
}
# In production the operator key must be at least this long.
PRODUCTION_SECRET_CHARS = 32
# A token signing key, in every environment: HS256 wants 32 bytes (RFC 7518, section 3.2).
SIGNING_KEY_CHARS = 32


class Settings(BaseSettings):
    """Configuration shared by all services; defaults fit the embedded stack on 127.0.0.1."""

    model_config = SettingsConfigDict(env_prefix="AVIARY_", extra="ignore")

    # `production` refuses the built-in credentials and short secrets (the process exits at
    # start); `development` keeps the embedded stack's defaults for `make demo` and the tests.
    env: Literal["development", "production"] = "development"

    # Prefix for every exchange, queue, database and bucket: lets test runs share one broker.
    namespace: str = Field(default="aviary", pattern=r"^[a-z][a-z0-9]{1,30}$")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The nodes of a RabbitMQ cluster, when clients should fail over between them themselves
    # (no load balancer in front): each process connects to one and, when that node goes
    # away, to the next. A JSON list or comma-separated URLs; empty means `amqp_url` alone.
    amqp_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Members of each quorum queue when it is first declared (`x-quorum-initial-group-size`);
    # 0 leaves it to the broker, as on the single-node embedded stack.
    quorum_group_size: int = Field(default=0, ge=0, le=9)
    # The embedded single-node database has no failover for a retryable write to survive, and
    # it scans its whole record of recent retryable writes on each one (about 40 % of its time
    # under load): the embedded default leaves them off. Production URLs keep them on.
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true&retryWrites=false"
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = "aviary"
    s3_secret_key: SecretStr = SecretStr(LOCAL_SECRETS["s3_secret_key"])
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    # Signs API tokens (JWT, HS256) under the key id `auth_key_id`. The default suits the
    # embedded stack only; deploy/ sets a real one. To rotate: move the current secret into
    # `auth_retired_secrets` under its key id, set a new secret and key id, and drop the
    # retired one once its tokens have expired (ADR 0007).
    auth_secret: SecretStr = SecretStr(LOCAL_SECRETS["auth_secret"])
    auth_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    auth_retired_secrets: dict[str, SecretStr] = {}
    # The operator's bootstrap key: the one credential that can create organisations and tokens.
    operator_key: SecretStr = SecretStr(LOCAL_SECRETS["operator_key"])

    host: str = "127.0.0.1"
    port: int = 0  # 0 means the service's default port from SERVICE_PORTS
    log_level: str = "INFO"
    log_json: bool = True
    # The web framework's own OpenTelemetry spans, metrics and logs. Off by default: the
    # services export Prometheus metrics and JSON logs, and with no collector configured the
    # instrumentation only costs CPU (about a tenth of a request on the worker routes).
    otel: bool = False

    # JSON request bodies above this size are refused with 413 (image uploads have their own).
    max_json_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Per-credential request rate limit, per replica (token bucket); 0 turns it off.
    rate_limit_per_s: float = Field(default=100.0, ge=0)
    rate_limit_burst: int = Field(default=300, ge=1)

    # Where browsers reach each service (the pages call them all) and which page origins may
    # call the APIs from a browser (CORS). Defaults suit the embedded stack.
    public_urls: dict[str, str] = Field(
        default_factory=lambda: {n: f"http://127.0.0.1:{p}" for n, p in SERVICE_PORTS.items()}
    )
    cors_origins: list[str] = Field(default_factory=list)  # empty: the public_urls' origins

    # Messaging
    # Unacknowledged events a consumer holds. A consumer that writes the events of one moment
    # in one transaction handles at most this many per round of writes, so under load its
    # pace is prefetch / (time of one group's writes): at 32 ingest's progress fell behind
    # the accept pipeline's submits whenever the database slowed (docs/benchmarks.md,
    # 2026-12-07 13:20).
    prefetch: int = Field(default=128, ge=1, le=1000)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_delays_ms: list[int] = Field(default_factory=lambda: [1_000, 5_000, 30_000, 120_000])
    outbox_poll_s: float = Field(default=0.5, gt=0)

    # Retention of what only keeps the machinery safe (shared/store/retention.py says why each).
    processed_events_retention_s: int = Field(default=7 * 86_400, ge=3600)
    # Dispatch's slot records and item marks, past their lease's end: a slot matters while a
    # view of its task may name it (seconds), a submission's record until its review (a
    # rejection reads it back), a mark while its item's copies are open.
    claims_retention_s: int = Field(default=30 * 86_400, ge=86_400)
    audit_db_retention_s: int = Field(default=90 * 86_400, ge=3600)
    audit_archive_retention_s: int = Field(default=2 * 365 * 86_400, ge=86_400)
    retention_sweep_s: float = Field(default=3600.0, gt=0)
    # How often ingest looks for delivered batches past their project's retention
    # (`privacy.retention`) and deletes them.
    project_retention_sweep_s: float = Field(default=600.0, gt=0)
    # Per-minute figures for the dashboard's charts (shared/rollups.py): how often a process
    # adds its readings, and how long they are kept.
    rollup_interval_s: float = Field(default=60.0, gt=0)
    rollup_retention_s: int = Field(default=8 * 24 * 3600, gt=0)

    # Ingest
    max_upload_bytes: int = 50 * 1024 * 1024
    # Pillow refuses images above its own bomb limit (~89.5 MP) before ours can apply.
    max_image_pixels: int = Field(default=80_000_000, ge=1, le=89_000_000)
    presign_ttl_s: int = 3600
    # Who reads /metrics (shared/web/metrics.py): on the API's port the operator key or this
    # token (a scraper's); on `metrics_port`, when set, anyone who can reach it (keep it
    # inside the cluster: the production manifests expose no Service on it).
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Ingest: videos (docs/media.md); a project sets its own, shorter, duration limit.
    # The operator's redaction model: a folder with model.onnx and manifest.json (assist's
    # manifest; class_map maps labels to face or plate). None: the cascades only.
    redaction_model_dir: Path | None = None
    max_video_bytes: int = Field(default=4 * 1024**3, ge=1)
    max_video_side_px: int = Field(default=4096, ge=16, le=16384)
    max_video_frames: int = Field(default=216_000, ge=1)
    max_video_decoded_pixels: int = Field(default=250_000_000_000, ge=1)
    # Ingest: audio recordings (docs/media.md); a project sets its duration and channel limits.
    # 2 GiB holds 12 hours of 16-bit stereo WAV at 44.1 kHz; compressed files are far smaller.
    max_audio_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_audio_sample_rate: int = Field(default=192_000, ge=8_000)

    # Ingest: URL imports (fetched by ingest's consumers)
    import_timeout_s: float = Field(default=30.0, gt=0)
    import_max_attempts: int = Field(default=4, ge=1, le=20)
    import_max_urls: int = Field(default=1000, ge=1, le=100_000)
    # Private, loopback and link-local hosts are refused unless listed here (CIDRs).
    import_allowed_networks: list[str] = Field(default_factory=list)

    # Dispatch
    lease_ttl_s: int = Field(default=300, ge=1)
    # How soon an abandoned lease's task is offered again after its expiry, at most; each
    # sweep reads at most `lease_sweep_page` records (the rest wait for the next one).
    lease_sweep_s: float = Field(default=2.0, gt=0)
    lease_sweep_page: int = Field(default=2000, ge=10)
    # How many picks one `next` tries when other requests or processes keep winning them.
    lease_attempts: int = Field(default=5, ge=1, le=50)
    # Concurrent leases (and submits) share one write: each costs the embedded database
    # several milliseconds however few documents it holds. Up to `dispatch_group_max` per
    # write, gathered for `dispatch_group_wait_s`, `dispatch_groups_in_flight` writes at once.
    # No wait by default: what arrives while writes are in flight forms the next group, and a
    # fixed wait only delayed every caller when few are active (8 annotators: 180 -> 210
    # accepted tasks/s without it, docs/benchmarks.md 2026-12-07).
    dispatch_group_max: int = Field(default=25, ge=1, le=1000)
    dispatch_group_wait_s: float = Field(default=0.0, ge=0, le=1)
    dispatch_groups_in_flight: int = Field(default=3, ge=1, le=32)
    # A dispatch process not heard from for this long no longer counts in the pool shares.
    replica_alive_s: float = Field(default=5.0, gt=0)
    # Vendors' work limits are read again after this long (a change through the API is seen
    # at once by the process that made it).
    limits_cache_s: float = Field(default=10.0, ge=0)
    # Time worked is added to the database this often (a crash loses at most this window).
    work_flush_s: float = Field(default=2.0, gt=0)
    # Tasks by state for the dashboard's gauges: often enough for a dashboard, rare enough not
    # to stall leases.
    task_count_s: float = Field(default=60.0, gt=0)
    # A rejected task waits this long for the annotator who made it before anyone may take it.
    rework_exclusive_s: float = Field(default=600.0, ge=0)
    # Another vendor's pending task may be taken by an idle annotator after waiting this long.
    backlog_takeover_s: float = Field(default=60.0, ge=0)
    # Each process re-reads what is pending this often (tasks other replicas created or freed).
    pool_sync_s: float = Field(default=5.0, gt=0)
    # Every this many syncs, a full re-read: a safety net (stale entries are dropped when their
    # lease meets a taken slot, and the syncs between see what became pending).
    pool_full_sync_every: int = Field(default=120, ge=1)
    # After this many skips a task is flagged for an operator instead of offered again.
    max_skips: int = Field(default=3, ge=1, le=100)
    # Daily work limits when a vendor has set none: per annotator, and for the intern group.
    default_daily_hours: float = Field(default=8.0, gt=0, le=24)
    intern_daily_hours: float = Field(default=4.0, gt=0, le=24)

    # Export: webhooks
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_base_s: float = Field(default=30.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    webhook_concurrency: int = Field(default=16, ge=1, le=1000)
    # Private, loopback and link-local targets are refused unless listed here (CIDRs).
    webhook_allowed_networks: list[str] = Field(default_factory=list)

    # Assist: box or clicks to an outline (services/assist/). Segmentations run on this many
    # threads at once (OpenCV releases the GIL; more than the cores only queues in the
    # kernel), and decoded images are kept, least recently used first out, up to this size:
    # a person clicks on one image several times.
    assist_threads: int = Field(default=2, ge=1, le=64)
    assist_image_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)

    @field_validator("amqp_urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [url.strip() for url in text.split(",") if url.strip()]
        return value

    @field_validator("auth_secret")
    @classmethod
    def _signing_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < SIGNING_KEY_CHARS:
            raise ValueError(f"must be at least {SIGNING_KEY_CHARS} characters (an HS256 key)")
        return value

    @field_validator("auth_retired_secrets")
    @classmethod
    def _signing_keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for kid, secret in value.items():
            if len(secret.get_secret_value()) < SIGNING_KEY_CHARS:
                raise ValueError(f"{kid}: must be at least {SIGNING_KEY_CHARS} characters")
        return value

    @field_validator("operator_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _safe_in_production(self) -> Self:
        if self.env != "production":
            return self
        problems = []
        for name in LOCAL_SECRETS:
            value = getattr(self, name).get_secret_value()
            if value == LOCAL_SECRETS[name] or "change-me" in value.lower():
                problems.append(f"AVIARY_{name.upper()} is a built-in or example value")
        if len(self.operator_key.get_secret_value()) < PRODUCTION_SECRET_CHARS:
            problems.append(
                f"AVIARY_OPERATOR_KEY is shorter than {PRODUCTION_SECRET_CHARS} characters"
            )
        if problems:
            raise ValueError(
                "unsafe for AVIARY_ENV=production: "
                + "; ".join(problems)
                + " (generate secrets with `openssl rand -hex 32`)"
            )
        return self

    @property
    def broker_urls(self) -> list[str]:
        """Every RabbitMQ node to try, in the configured order (at least one)."""
        return list(self.amqp_urls) or [self.amqp_url]

    def service_port(self, service: str) -> int:
        """The HTTP port of `service`: the explicit setting, else the service's default."""
        return self.port or SERVICE_PORTS[service]

    def database_name(self, service: str) -> str:
        """Each service owns one database, named after it."""
        return f"{self.namespace}_{service}"

    @property
    def images_bucket(self) -> str:
        return f"{self.namespace}-images"

    @property
    def deliveries_bucket(self) -> str:
        return f"{self.namespace}-deliveries"

    @property
    def models_bucket(self) -> str:
        """Operators' models and their image embeddings (services/assist/models/)."""
        return f"{self.namespace}-models"

    @property
    def audit_bucket(self) -> str:
        """Where audit entries go once they leave the database (shared/store/retention.py)."""
        return f"{self.namespace}-audit"


def describe_invalid(error: ValidationError) -> str:
    """One line per refused setting, named as the environment variable that sets it."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        name = f"AVIARY_{where.upper()}: " if where else ""
        lines.append(f"{name}{problem['msg'].removeprefix('Value error, ')}")
    return "invalid settings:\n  " + "\n  ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
