"""Settings of the monitoring centre, read from the environment (prefix `VIGIE_`)."""

from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from vigie.observation import TimeBounds

DEFAULT_SECRET = "vigie-development-secret-change-me-in-production"
MIN_SECRET_LENGTH = 32


class InsecureSettings(RuntimeError):
    """The settings would let anyone forge a token: the centre does not start with them."""


# A worker's name is a KV key token (`w.<name>`, and the lease's value): no dot, no space.
WORKER_NAME_PATTERN = r"^[A-Za-z0-9_-]{0,64}$"


class Settings(BaseSettings):
    """One place for every knob, so a deployment changes the environment and never the code."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    # Embedded default: one SQLite file. Production: postgresql+psycopg://user:pw@host/db
    database_url: str = "sqlite:///var/vigie.sqlite"
    # PostgreSQL failover (several hosts in the URL, `target_session_attrs=read-write`): how
    # long an ingest (API or gateway) retries a write that lost its database before refusing it
    # (503, or no acknowledgement to the device); above the orchestrator's failover time.
    db_retry_s: float = Field(default=30.0, ge=0)
    # How long a batch posted to the API waits for others to share its commit (group commit,
    # `vigie.store.group_commit`; 0: it shares one with those posted while a commit is under
    # way). Unset: 25 ms on SQLite, whose bytes follow its commits, not what they hold
    # (bench/pipeline.py at 2,400 obs/s: 1,630 -> 1,105 bytes an observation); on PostgreSQL
    # each batch commits on its own, concurrently. There too each commit writes its last WAL
    # page again, which PostgreSQL's statistics do not count: at 2,400 obs/s, 25 ms halved the
    # WAL writes (51 -> 26 a second) and the disk wrote 998 bytes an observation, not 1,140,
    # for 26 ms more a POST (median; README, issue 13): not the default, the gateways (the
    # devices' way in) group their own commits.
    ingest_window_s: float | None = Field(default=None, ge=0, le=1)
    jwt_secret: SecretStr = SecretStr(DEFAULT_SECRET)
    # Development or demo: the only mode in which the centre starts with a weak token secret.
    dev: bool = False
    jwt_ttl_s: int = Field(default=8 * 3600, gt=0)
    tick_s: float = Field(default=1.0, gt=0)
    # How often detection looks for observations that no ingest rang for (the gateway's).
    poll_s: float = Field(default=0.05, gt=0)
    # How often detection checkpoints its engine (each step is journaled; a restart restores
    # the checkpoint and re-runs the steps after it): longer writes less, restarts re-run more.
    checkpoint_s: float = Field(default=5.0, ge=0)
    # An alarm left unacknowledged this long (priority 3: zone exit, absence) escalates to the
    # supervisors; each priority's factor scales it (README, "Escalation"): the BAR alert at
    # 30 s, low battery at 10 min with the defaults.
    # At most 10^7 s (116 days; tests use 10^6 for "never"): an infinite one was taken, and
    # every detection step then failed on its time arithmetic: detection stopped.
    escalation_after_s: float = Field(default=120.0, gt=0, le=10_000_000)
    escalation_factors: dict[int, float] = Field(
        default_factory=lambda: {0: 0.25, 1: 0.25, 2: 0.5, 3: 1.0, 4: 2.5, 5: 5.0}
    )
    # How often detection looks for alarms to escalate, at most (0: every step): an alarm
    # escalates up to this much after its delay.
    escalation_check_s: float = Field(default=1.0, ge=0)
    # Reporting rates the pipeline asks of worn and carried devices (seconds between reports):
    # normally, and per measure while the case has an alarm (or a pre-alert) open. How often
    # the pipeline checks them, at most.
    report_every_s: int = Field(default=300, ge=10, le=86_400)
    alarm_report_every_s: dict[str, int] = Field(
        default_factory=lambda: {"bar": 10, "arse": 30, "ddse": 30, "psem": 30, "lsc": 60}
    )
    report_rate_check_s: float = Field(default=5.0, ge=0)
    # How long an active placement may stay one detection cannot apply (its home unit not yet
    # assigned...) before it is an `unmonitored` alarm (vigie.alarms.unmonitored): a case set up
    # device by device is complete within it.
    unmonitored_after_s: float = Field(default=300.0, ge=0)
    # How long after its last raise that alarm is raised again while the case stays so: closed
    # by an operator meanwhile, it opens anew (still open, the reminder folds into it).
    unmonitored_remind_s: float = Field(default=86_400.0, ge=60)
    # An alarm closed while its condition went on (him still in the zone, still near her) is
    # raised again if detection has not seen it end this long after the close, scaled by the
    # escalation factor of its priority (vigie.alarms.ongoing): the BAR alert after 2.5 min,
    # a zone exit after 10, low battery after 50 with the defaults.
    ongoing_remind_s: float = Field(default=600.0, ge=60, le=86_400)  # a day at most, as above
    # How long a zone or distance breach may be held for confirmation by a second fix, per
    # measure (zones, pre-alert), and for the BAR alert (vigie.detect.persistence says why).
    breach_confirm_s: dict[str, float] = Field(
        default_factory=lambda: {
            "psem": 600.0,
            "bar": 600.0,
            "arse": 600.0,
            "ddse": 600.0,
            "lsc": 600.0,
        }
    )
    alert_confirm_s: float = Field(default=60.0, ge=0, le=3_600)
    run_pipeline: bool = True
    # Detection in a process of its own (a core of its own); False runs it in a thread.
    pipeline_process: bool = True
    # Freeze the start-up heap out of the garbage collector's full passes (shorter pauses).
    gc_freeze: bool = True
    # The largest request body read, checked before authentication (a full observation batch of
    # 20,000 fixes is about 4 MB).
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "centre@vigie.invalid"
    # Production mail goes over STARTTLS (certificate verified; VIGIE_SMTP_CA_FILE for a private
    # CA) and, when a username is set, authenticates; credentials never travel in clear.
    smtp_starttls: bool = False
    smtp_ca_file: str = ""
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    outbox_max_attempts: int = Field(default=8, gt=0)
    outbox_retry_base_s: float = Field(default=5.0, gt=0)
    # The audit chain's checkpoints: HMAC key (VIGIE_AUDIT_KEY, or a file holding it) that is
    # never stored in the database, the JSON-lines file outside it, and how often to write.
    audit_key: SecretStr = SecretStr("")
    audit_key_file: str = ""
    audit_anchor_file: str = "var/audit-anchors.jsonl"
    audit_anchor_interval_s: float = Field(default=60.0, gt=0)
    # The bearer token of Prometheus's scrapes of /metrics (off while empty): as long as a
    # token secret, since whoever holds it reads the centre's load.
    metrics_token: SecretStr = SecretStr("")
    # How often stored observations are grouped into spans (`vigie.store.spans`): per-device
    # reads scan the readings stored since, so this bounds what they cost, not what they find.
    # Each compaction writes a span per device, type and minute it saw: at 10 s they cost 277
    # bytes a reading on SQLite and 427 on PostgreSQL, at 60 s 54 and 144 (bench/store_churn.py).
    span_every_s: float = Field(default=60.0, gt=0, le=3_600)
    # How far ahead of its receipt an observation's time may be (a device's clock running fast):
    # beyond, refused at every way in, so that no device's clock moves detection's time.
    max_clock_skew_s: float = Field(default=300.0, ge=0, le=86_400)
    # The horizon: an observation older than this before its receipt is refused (the default
    # retention of locations, `vigie db purge-locations --older-than 365`).
    max_observation_age_days: float = Field(default=365.0, gt=0)
    # Detection is "blind" (health 503, the console's banner) when no step has completed for
    # this long while observations wait, or when steps have kept failing for this long.
    blind_after_s: float = Field(default=30.0, gt=0)
    # argon2id cost (RFC 9106's second recommended option by default); tests lower it for speed.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    # Login throttling: failed attempts within the window, per username and per client address,
    # after which attempts are refused (429) before any password is hashed.
    login_window_s: float = Field(default=900.0, gt=0)
    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=30, ge=1)
    # Password checks at once (argon2 is CPU- and memory-heavy) and logins allowed to wait for one.
    login_concurrency: int = Field(default=1, ge=1)
    login_max_waiting: int = Field(default=16, ge=0)
    # Production mode (README, "Production (cluster mode)"): `cluster` ingests through a NATS
    # JetStream cluster and needs PostgreSQL; `embedded` (one process, SQLite) imports no NATS.
    mode: Literal["embedded", "cluster"] = "embedded"
    # The NATS servers, comma-separated: nats://h1:4222,nats://h2:4222,nats://h3:4222
    nats_urls: str = ""
    nats_creds: str = ""  # credentials file (NKEY/JWT)
    nats_tls_ca: str = ""  # CA of the servers' certificates (TLS is required off loopback)
    # P, fixed at `vigie cluster init` and stored in the cluster: every process checks it.
    partitions: int = Field(default=64, ge=1, le=10_000)
    stream_replicas: int = Field(default=3, ge=1, le=5)
    # The ingest stream's retention (at least the longest PostgreSQL outage to survive); when
    # full, publishes are refused (discard new) so devices keep their data. Size it: readings/s
    # × ~250 bytes × the max age (1,600/s for 72 h is about 100 GB); each node needs that free.
    stream_max_age_h: float = Field(default=72.0, gt=0)
    stream_max_gb: float = Field(default=10.0, gt=0)
    # How long the stream recognises a resent device message by its id.
    dedupe_window_s: float = Field(default=120.0, gt=0)
    # How long a gateway retries a publish before closing without acknowledging the device
    # (above the 9 s worst NATS leader election).
    publish_deadline_s: float = Field(default=12.0, gt=0)
    # Partition leases (KV TTL) and their renewal period.
    lease_s: float = Field(default=3.0, gt=0)
    renew_s: float = Field(default=1.0, gt=0)
    # A detection worker's name in leases and presence (default: host-pid).
    worker_name: str = Field(default="", pattern=WORKER_NAME_PATTERN)
    # Most stream messages one step of one partition takes.
    step_batch: int = Field(default=5000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _cluster_needs_nats_and_postgresql(self) -> "Settings":
        if self.renew_s >= self.lease_s:
            raise ValueError(
                f"VIGIE_RENEW_S ({self.renew_s}) must be shorter than VIGIE_LEASE_S "
                f"({self.lease_s}): a lease would expire between renewals"
            )
        if self.mode != "cluster":
            return self
        if self.database_url.startswith("sqlite"):
            raise ValueError(
                "VIGIE_MODE=cluster needs PostgreSQL: VIGIE_DATABASE_URL is a SQLite URL "
                "(set postgresql+psycopg://…)"
            )
        if not self.nats_servers:
            raise ValueError(
                "VIGIE_MODE=cluster needs VIGIE_NATS_URLS (nats://h1:4222,nats://h2:4222,…)"
            )
        return self

    @property
    def nats_servers(self) -> list[str]:
        """`VIGIE_NATS_URLS` as a list."""
        return [url.strip() for url in self.nats_urls.split(",") if url.strip()]

    @field_validator("database_url")
    @classmethod
    def _a_store_url(cls, url: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "not a database URL (sqlite:///path/vigie.sqlite or postgresql+psycopg://…)"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"a {backend} database: the store is SQLite or PostgreSQL")
        return url

    @field_validator("smtp_ca_file")
    @classmethod
    def _loadable_ca(cls, path: str) -> str:
        """Loaded now: a wrong path would fail every report's delivery, found hours later."""
        if path:
            import ssl

            try:
                ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"{path}: not a readable CA file ({exc})") from None
        return path

    @field_validator("audit_key")
    @classmethod
    def _long_audit_key(cls, key: SecretStr) -> SecretStr:
        if 0 < len(key.get_secret_value().strip()) < MIN_SECRET_LENGTH:
            raise ValueError(f"VIGIE_AUDIT_KEY must be at least {MIN_SECRET_LENGTH} characters")
        return key

    @field_validator("audit_key_file")
    @classmethod
    def _readable_audit_key(cls, path: str) -> str:
        """The key file read now, not at the first checkpoint: a missing or empty one (an HMAC
        under an empty key, which anyone can forge) stops the start, not the anchoring."""
        if not path:
            return path
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"{path}: the key must be at least {MIN_SECRET_LENGTH} characters")
        return path

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, token: SecretStr) -> SecretStr:
        if 0 < len(token.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"VIGIE_METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters")
        return token

    @field_validator("escalation_factors")
    @classmethod
    def _positive_factors(cls, factors: dict[int, float]) -> dict[int, float]:
        for priority, factor in factors.items():
            if not 0 < factor <= 1000:
                raise ValueError(f"priority {priority}: factor {factor} is not in (0, 1000]")
        return factors

    def ingest_window(self, sqlite: bool) -> float | None:
        """`ingest_window_s`, or its default for the database (None: no group commit)."""
        if self.ingest_window_s is not None:
            return self.ingest_window_s
        return 0.025 if sqlite else None

    def secret_problem(self) -> str | None:
        """Why the token secret is unfit for production, or None (always None in dev mode)."""
        if self.dev:
            return None
        secret = self.jwt_secret.get_secret_value()
        if secret == DEFAULT_SECRET:
            return "VIGIE_JWT_SECRET is the development default"
        if len(secret) < MIN_SECRET_LENGTH:
            return f"VIGIE_JWT_SECRET is shorter than {MIN_SECRET_LENGTH} characters"
        return None

    @cached_property
    def time_bounds(self) -> "TimeBounds":
        """The one model's time bounds under these settings."""
        from vigie.observation import TimeBounds  # the model loads the engine's vocabulary

        return TimeBounds(self.max_clock_skew_s, self.max_observation_age_days * 86_400)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (tests build their own `Settings` and pass them explicitly)."""
    return Settings()
