"""Platform name -> adapter, for the composition roots (web_min, worker, CLI).

    registry = build_registry(settings, database)   # core.ports.PlatformRegistry
    adapter = registry.get("meta")                  # a fresh adapter; `await adapter.aclose()`

Each call builds a new adapter that owns one httpx client; close it when done.
"""

from __future__ import annotations

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.sandbox import SandboxAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.config import Settings, get_settings
from core.db import Database
from core.errors import NotFound
from core.ports import AdPlatform, PlatformRegistry

PLATFORMS = ("google", "meta", "tiktok", "sandbox")


def build_registry(settings: Settings, database: Database | None) -> PlatformRegistry:
    """Every platform this build knows; `sandbox` only when a database is given."""
    registry = PlatformRegistry()
    registry.register("google", lambda: GoogleAdsAdapter(settings))
    registry.register("meta", lambda: MetaAdsAdapter(settings))
    registry.register("tiktok", lambda: TikTokAdsAdapter(settings))
    if database is not None:
        registry.register("sandbox", lambda: SandboxAdapter(database))
    return registry


def get_adapter(
    name: str, *, settings: Settings | None = None, database: Database | None = None
) -> AdPlatform:
    """The adapter for `name` (google, meta, tiktok, sandbox); sandbox needs `database`."""
    if name == "sandbox" and database is None:
        raise NotFound(
            "The sandbox platform needs a database: get_adapter('sandbox', database=db)."
        )
    if name not in PLATFORMS:
        raise NotFound(f"Unknown ad platform {name!r} (known: {', '.join(sorted(PLATFORMS))}).")
    return build_registry(settings or get_settings(), database).get(name)
