"""Application settings: one pydantic-settings object, read once through get_settings()."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./adpilot.db"

# Words that mark a secret copied from an example; production must never run with one.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "placeholder", "example", "your-")
# 32 random bytes as URL-safe base64 (`secrets.token_urlsafe(32)`) are 43 characters; a hex
# key of the same strength (`secrets.token_hex(32)`) is 64, so 43 is the floor for either.
SECRET_KEY_MIN_LENGTH = 43
# Random keys of that length use far more symbols; a few repeated ones betray a typed phrase.
SECRET_KEY_MIN_DISTINCT = 10
SECRET_KEY_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"

# The org binding key is derived from ADPILOT_SECRET_KEY under this label (see core.db).
_ORG_BINDING_LABEL = b"adpilot/org-binding/v1"
# Outside production a missing secret key falls back to this public value: the binding then
# guards against mistakes, not attackers, and `adpilot doctor` says so.
_DEVELOPMENT_SECRET = b"adpilot-development-secret-never-for-production"


class ConfigError(RuntimeError):
    """Settings that cannot run in the chosen mode; the message names what is missing."""


def secret_key_problem(secret: str) -> str | None:
    """Why `secret` is not a real secret key (None when it is): length, variety, placeholders."""
    if len(secret) < SECRET_KEY_MIN_LENGTH:
        return f"shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(secret)) < SECRET_KEY_MIN_DISTINCT:
        return f"fewer than {SECRET_KEY_MIN_DISTINCT} distinct characters"
    lowered = secret.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return "a placeholder from an example"
    return None


class Settings(BaseSettings):
    """Every knob AdPilot has. Env prefix ADPILOT_, a .env file is read when present."""

    model_config = SettingsConfigDict(
        env_prefix="ADPILOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    # When set, GET /metrics needs `Authorization: Bearer <token>` (it is on the public listener).
    metrics_token: SecretStr | None = None

    # Storage and queue
    database_url: str = DEFAULT_SQLITE_URL
    # The non-owner role the web and bot paths use on PostgreSQL, so RLS applies to them.
    database_app_role: str = "adpilot_app"
    # The BYPASSRLS role cross-org background jobs use.
    database_worker_role: str = "adpilot_worker"
    # Their own logins (PostgreSQL). Without them the app logs in as the owner and switches
    # role at connection start, which a `SET ROLE NONE` in injected SQL could undo.
    database_app_url: str | None = None
    database_worker_url: str | None = None
    redis_url: str | None = None
    # Without Redis, `adpilot serve` runs the worker's cron jobs (rules, approvals sweep, the
    # alert outbox) in its own process. Off when another process runs them for this database.
    embedded_schedule: bool = True
    db_echo: bool = False
    # Where a chat message's work runs after the webhook's ack: in the web process ("inline",
    # works everywhere), or queued on Redis for `adpilot worker` ("queue", for production).
    chat_turns: Literal["inline", "queue"] = "inline"

    # Secrets
    secret_key: SecretStr | None = None
    # Comma-separated Fernet keys, newest first. Rotation: prepend a key, run `adpilot rotate-keys`.
    encryption_keys: SecretStr | None = None

    # Product defaults
    default_platform: str = "sandbox"
    approval_expiry_hours: int = Field(default=12, ge=1, le=24 * 14)
    undo_window_hours: int = Field(default=24, ge=1, le=24 * 7)
    max_budget_change_percent: Decimal = Decimal("50")

    # Ad platforms: base URLs are settings so a proxy or a local test server can stand in.
    google_ads_api_url: str = "https://googleads.googleapis.com"
    google_ads_api_version: str = "v26"
    google_oauth_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    google_oauth_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_developer_token: SecretStr | None = None
    google_login_customer_id: str | None = None

    meta_api_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v25.0"
    meta_oauth_authorize_url: str = "https://www.facebook.com/v25.0/dialog/oauth"
    meta_app_id: str | None = None
    meta_app_secret: SecretStr | None = None

    tiktok_api_url: str = "https://business-api.tiktok.com"
    tiktok_oauth_authorize_url: str = "https://business-api.tiktok.com/portal/auth"
    tiktok_app_id: str | None = None
    tiktok_app_secret: SecretStr | None = None

    http_timeout_seconds: float = 30.0
    http_max_attempts: int = Field(default=5, ge=1, le=10)
    # Revoking a grant on disconnect is best effort and the admin waits for it: keep it short.
    platform_revoke_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # A platform's wait longer than this is not slept in-process: the job is deferred instead.
    http_max_inline_wait_seconds: float = Field(default=60.0, ge=0)

    # Metrics sync (worker): days re-read each cycle (platforms restate recent days), and how
    # many accounts of each platform sync at once across every worker (a Redis semaphore).
    sync_lookback_days: int = Field(default=3, ge=1, le=90)
    sync_concurrency_google: int = Field(default=16, ge=1, le=1000)
    sync_concurrency_meta: int = Field(default=32, ge=1, le=1000)
    sync_concurrency_tiktok: int = Field(default=16, ge=1, le=1000)
    # The sandbox and any other platform.
    sync_concurrency_other: int = Field(default=8, ge=1, le=1000)
    # The cron spreads a cycle's jobs over this many seconds, so chat turns queued meanwhile
    # never wait behind thousands of due sync jobs (0: all at once).
    sync_spread_seconds: float = Field(default=300.0, ge=0, le=840)
    # First retry of a failed sync after this many seconds, doubling per try.
    sync_retry_backoff_seconds: float = Field(default=30.0, ge=0)

    # LLM
    llm_model: str | None = None
    llm_fallback_model: str | None = None
    llm_budget_model: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    llm_max_tool_calls: int = 8
    llm_max_tokens_per_turn: int = 20_000
    llm_history_max_messages: int = 40

    # Channels
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    # Install to many workspaces (OAuth v2) instead of one bot token.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    # Where Slack sends people back after consent; the app's configured URL when unset.
    slack_redirect_uri: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # The bot's @username, shown on the channels page next to a link code (without the @).
    telegram_bot_username: str | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_verify_token: SecretStr | None = None
    # The Graph API with its version pinned: Meta changes shapes between versions.
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0/"
    # The business number people write to, E.164, shown next to a link code (the id above
    # is Meta's, not a number anyone can type).
    whatsapp_number: str | None = None
    signal_api_url: str | None = None
    signal_number: str | None = None
    # Email through Resend's HTTP API (alerts' fallback and transactional mail).
    resend_api_key: SecretStr | None = None
    resend_api_url: str = "https://api.resend.com"
    email_from: str | None = None
    # Slack incoming webhooks: a destination's URL must start with this (a mock in tests).
    slack_webhook_base_url: str = "https://hooks.slack.com/services/"
    # How long a delivery worker holds notifications it claimed before another may retry them.
    notify_lease_seconds: float = Field(default=300.0, gt=0)

    # Report exports: file storage (file:// directory or s3://bucket/prefix) and download links.
    storage_url: str = "file://./adpilot-files"
    # S3-compatible storage: the endpoint (unset: AWS), region and keys (unset: the SDK's chain).
    storage_endpoint_url: str | None = None
    storage_region: str = "us-east-1"
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    # The web app's public address, for signed download links, and how long a link lives.
    public_url: str = "http://127.0.0.1:8000"
    download_link_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)

    # Web sign-in: a session ends after this long without a request, and at the latest after
    # the absolute lifetime however active it is; a password reset link lives this long.
    web_session_idle_minutes: int = Field(default=8 * 60, ge=5, le=7 * 24 * 60)
    web_session_max_days: int = Field(default=14, ge=1, le=90)
    password_reset_ttl_minutes: int = Field(default=30, ge=5, le=24 * 60)

    # Billing
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_url: str = "https://api.stripe.com"
    # Stripe price ids (price_...) of the paid tiers; a subscription's price picks the org's plan.
    stripe_price_starter: str | None = None
    stripe_price_pro: str | None = None
    stripe_price_agency: str | None = None

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def url_for(self, trust: Literal["app", "worker", "owner"]) -> str:
        """The URL a trust level logs in with: its own login where configured, else the owner's."""
        dedicated = {"app": self.database_app_url, "worker": self.database_worker_url}
        return dedicated.get(trust) or self.database_url

    def org_binding_key(self) -> bytes:
        """The HMAC key that signs the org binding of a transaction (derived, never stored raw)."""
        return self.derived_key(_ORG_BINDING_LABEL)

    def derived_key(self, label: bytes) -> bytes:
        """A key for one purpose (`label`), derived from ADPILOT_SECRET_KEY; never stored raw."""
        secret = self.secret_key.get_secret_value().encode() if self.secret_key else b""
        return hmac.new(secret or _DEVELOPMENT_SECRET, label, hashlib.sha256).digest()

    def encryption_key_list(self) -> list[str]:
        """The configured Fernet keys, newest first."""
        if self.encryption_keys is None:
            return []
        raw = self.encryption_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]

    def missing_for_production(self) -> list[str]:
        """Names of the settings production refuses to run without."""
        missing: list[str] = []
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        problem = secret_key_problem(secret) if secret else "not set"
        if problem is not None:
            missing.append(f"ADPILOT_SECRET_KEY ({problem}; {SECRET_KEY_HINT})")
        if not self.encryption_key_list():
            missing.append("ADPILOT_ENCRYPTION_KEYS")
        if not self.is_postgres:
            missing.append("ADPILOT_DATABASE_URL (a postgresql+asyncpg:// URL)")
        # Without their own logins the app and worker log in as the owner, and `SET ROLE NONE`
        # in injected SQL would return to it: production never runs that way.
        if not self.database_app_url:
            missing.append("ADPILOT_DATABASE_APP_URL (the adpilot_app login)")
        if not self.database_worker_url:
            missing.append("ADPILOT_DATABASE_WORKER_URL (the adpilot_worker login)")
        if not self.redis_url:
            missing.append("ADPILOT_REDIS_URL")
        return missing

    @model_validator(mode="after")
    def _queue_needs_redis(self) -> Settings:
        if self.chat_turns == "queue" and not self.redis_url:
            raise ConfigError(
                "ADPILOT_CHAT_TURNS=queue needs ADPILOT_REDIS_URL (the worker's queue); "
                "set it, or use ADPILOT_CHAT_TURNS=inline."
            )
        return self

    @model_validator(mode="after")
    def _refuse_incomplete_production(self) -> Settings:
        if self.is_production:
            missing = self.missing_for_production()
            if missing:
                raise ConfigError(
                    "ADPILOT_ENV=production refuses to start; missing or unsafe: "
                    + ", ".join(missing)
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def reset_settings_cache() -> None:
    """Forget cached settings (tests and the CLI's --database-url override use this)."""
    get_settings.cache_clear()
