"""Settings: embedded defaults, production refusals that name what is missing."""

from __future__ import annotations

import pytest

from core.config import DEFAULT_SQLITE_URL, ConfigError, Settings


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_DATABASE_URL")
    settings = Settings()
    assert settings.database_url == DEFAULT_SQLITE_URL
    assert settings.redis_url is None
    assert settings.default_platform == "sandbox"
    assert settings.is_sqlite


def test_production_names_every_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_ENCRYPTION_KEYS")
    monkeypatch.setenv("ADPILOT_ENV", "production")
    with pytest.raises(ConfigError) as excinfo:
        Settings()
    message = str(excinfo.value)
    for name in (
        "ADPILOT_SECRET_KEY",
        "ADPILOT_ENCRYPTION_KEYS",
        "ADPILOT_DATABASE_URL",
        "ADPILOT_REDIS_URL",
    ):
        assert name in message


def test_production_refuses_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADPILOT_ENV", "production")
    monkeypatch.setenv("ADPILOT_SECRET_KEY", "changeme")
    monkeypatch.setenv("ADPILOT_DATABASE_URL", "postgresql+asyncpg://u@db/adpilot")
    monkeypatch.setenv("ADPILOT_REDIS_URL", "redis://redis:6379/0")
    with pytest.raises(ConfigError, match="ADPILOT_SECRET_KEY"):
        Settings()


def test_complete_production_settings_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADPILOT_ENV", "production")
    monkeypatch.setenv("ADPILOT_SECRET_KEY", "a-long-random-secret-value")
    monkeypatch.setenv("ADPILOT_DATABASE_URL", "postgresql+asyncpg://u@db/adpilot")
    monkeypatch.setenv("ADPILOT_REDIS_URL", "redis://redis:6379/0")
    settings = Settings()
    assert settings.is_production
    assert settings.is_postgres


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADPILOT_SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = Settings()
    assert "xoxb-very-secret" not in repr(settings)
    assert "xoxb-very-secret" not in str(settings.model_dump())


def test_dotenv_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADPILOT_DATABASE_URL")
    (tmp_path / ".env").write_text("ADPILOT_LLM_MODEL=openai:gpt-4o\n")
    assert Settings().llm_model == "openai:gpt-4o"
