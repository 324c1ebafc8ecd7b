"""Settings: embedded defaults, production refusals that name what is missing."""

from __future__ import annotations

import secrets

import pytest

from core.config import DEFAULT_SQLITE_URL, ConfigError, Settings, secret_key_problem

STRONG_SECRET = secrets.token_urlsafe(32)


def _production_env(monkeypatch: pytest.MonkeyPatch, *, secret: str = STRONG_SECRET) -> None:
    """Everything production needs, so each test can take away one thing."""
    monkeypatch.setenv("ADPILOT_ENV", "production")
    monkeypatch.setenv("ADPILOT_SECRET_KEY", secret)
    monkeypatch.setenv("ADPILOT_DATABASE_URL", "postgresql+asyncpg://owner@db/adpilot")
    monkeypatch.setenv("ADPILOT_DATABASE_APP_URL", "postgresql+asyncpg://adpilot_app:pw@db/adpilot")
    monkeypatch.setenv(
        "ADPILOT_DATABASE_WORKER_URL", "postgresql+asyncpg://adpilot_worker:pw@db/adpilot"
    )
    monkeypatch.setenv("ADPILOT_REDIS_URL", "redis://redis:6379/0")


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_DATABASE_URL")
    settings = Settings()
    assert settings.database_url == DEFAULT_SQLITE_URL
    assert settings.redis_url is None
    assert settings.default_platform == "sandbox"
    assert settings.is_sqlite


def test_production_names_every_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_ENCRYPTION_KEYS")
    monkeypatch.delenv("ADPILOT_SECRET_KEY")
    monkeypatch.setenv("ADPILOT_ENV", "production")
    with pytest.raises(ConfigError) as excinfo:
        Settings()
    message = str(excinfo.value)
    for name in (
        "ADPILOT_SECRET_KEY",
        "ADPILOT_ENCRYPTION_KEYS",
        "ADPILOT_DATABASE_URL",
        "ADPILOT_DATABASE_APP_URL",
        "ADPILOT_DATABASE_WORKER_URL",
        "ADPILOT_REDIS_URL",
    ):
        assert name in message


@pytest.mark.parametrize("missing", ["ADPILOT_DATABASE_APP_URL", "ADPILOT_DATABASE_WORKER_URL"])
def test_production_refuses_to_log_in_as_the_owner(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """Without its own login a role is reached from the owner's, and SET ROLE NONE undoes it."""
    _production_env(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing) as excinfo:
        Settings()
    assert "ADPILOT_SECRET_KEY" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("changeme", "shorter than 43 characters"),
        # token_urlsafe(31): random, but 31 bytes, one short of the 32 required.
        (secrets.token_urlsafe(31), "shorter than 43 characters"),
        ("changeme" * 6, "fewer than 10 distinct characters"),
        ("ab" * 40, "fewer than 10 distinct characters"),
        ("your-secret-key-goes-here-1234567890-ABCDEFGH", "a placeholder"),
        ("PLACEHOLDER_" + secrets.token_urlsafe(32), "a placeholder"),
    ],
)
def test_production_refuses_a_secret_key_that_is_not_real(
    monkeypatch: pytest.MonkeyPatch, secret: str, reason: str
) -> None:
    _production_env(monkeypatch, secret=secret)
    with pytest.raises(ConfigError) as excinfo:
        Settings()
    message = str(excinfo.value)
    assert f"ADPILOT_SECRET_KEY ({reason}" in message
    assert "token_urlsafe(32)" in message  # says how to make a good one
    assert secret not in message  # and never echoes the secret


@pytest.mark.parametrize(
    "secret", [secrets.token_urlsafe(32), secrets.token_hex(32), secrets.token_urlsafe(64)]
)
def test_generated_secret_keys_are_accepted(secret: str) -> None:
    assert secret_key_problem(secret) is None


def test_complete_production_settings_start(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    settings = Settings()
    assert settings.is_production
    assert settings.is_postgres
    assert settings.url_for("app").startswith("postgresql+asyncpg://adpilot_app:")


def test_org_binding_key_is_derived_from_the_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    monkeypatch.setenv("ADPILOT_SECRET_KEY", first)
    key = Settings().org_binding_key()
    assert len(key) == 32
    assert key == Settings().org_binding_key()  # stable: app and migration agree
    assert first.encode() not in key  # derived, not the secret itself
    monkeypatch.setenv("ADPILOT_SECRET_KEY", second)
    assert Settings().org_binding_key() != key
    monkeypatch.delenv("ADPILOT_SECRET_KEY")
    development_key = Settings().org_binding_key()
    assert development_key not in (key, Settings(secret_key=second).org_binding_key())
    assert Settings(secret_key="").org_binding_key() == development_key


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADPILOT_SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = Settings()
    assert "xoxb-very-secret" not in repr(settings)
    assert "xoxb-very-secret" not in str(settings.model_dump())


def test_dotenv_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_DATABASE_URL")
    (tmp_path / ".env").write_text("ADPILOT_LLM_MODEL=openai:gpt-4o\n")
    assert Settings().llm_model == "openai:gpt-4o"
