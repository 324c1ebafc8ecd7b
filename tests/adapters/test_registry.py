"""The registry: real adapters by name, and the sandbox standing in only where asked."""

from __future__ import annotations

import pytest

from adapters import build_registry, get_adapter
from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.sandbox import SandboxAdapter
from core.config import Settings
from core.db import Database
from core.errors import NotFound


async def test_unconfigured_platforms_are_simulated_only_when_asked(settings: Settings) -> None:
    database = Database(settings)
    try:
        plain = build_registry(settings, database)
        assert isinstance(plain.get("meta"), MetaAdsAdapter)
        simulated = build_registry(settings, database, simulate_unconfigured=True)
        meta = simulated.get("meta")
        assert isinstance(meta, SandboxAdapter)
        assert meta.name == "meta"
    finally:
        await database.dispose()


async def test_configured_platforms_keep_their_real_adapter(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = settings.model_copy(
        update={
            "google_client_id": "id",
            "google_client_secret": "s",
            "google_developer_token": "t",
        }
    )
    database = Database(settings)
    try:
        registry = build_registry(configured, database, simulate_unconfigured=True)
        assert isinstance(registry.get("google"), GoogleAdsAdapter)
        assert isinstance(registry.get("tiktok"), SandboxAdapter)
    finally:
        await database.dispose()


async def test_production_never_simulates(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    database = Database(settings)
    try:
        registry = build_registry(production, database, simulate_unconfigured=True)
        assert isinstance(registry.get("meta"), MetaAdsAdapter)
    finally:
        await database.dispose()


def test_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(NotFound, match="google, meta, sandbox, tiktok"):
        get_adapter("myspace")
