"""Platform name -> adapter, for the composition roots (web_min, worker, CLI).

    registry = build_registry(settings, database)   # core.ports.PlatformRegistry
    adapter = registry.get("meta")                  # a fresh adapter; `await adapter.aclose()`

Each call builds a new adapter that owns one httpx client; close it when done.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from adapters.sandbox import SandboxAdapter
from adapters.tiktok_ads import TikTokAdsAdapter
from core.config import Settings, get_settings
from core.db import Database
from core.errors import NotFound
from core.ports import AdPlatform, PlatformRegistry

PLATFORMS = ("google", "meta", "tiktok", "sandbox")
REAL_PLATFORMS = ("google", "meta", "tiktok")


def configured_platforms(settings: Settings) -> set[str]:
    """Real platforms whose app credentials are all set."""
    required: dict[str, tuple[object, ...]] = {
        "google": (
            settings.google_client_id,
            settings.google_client_secret,
            settings.google_developer_token,
        ),
        "meta": (settings.meta_app_id, settings.meta_app_secret),
        "tiktok": (settings.tiktok_app_id, settings.tiktok_app_secret),
    }
    return {name for name, values in required.items() if all(v not in (None, "") for v in values)}


def shared_http_client(settings: Settings) -> httpx.AsyncClient:
    """One HTTP client for every adapter a long-lived process builds (the worker's syncs).

    Each adapter otherwise opens its own client, and building its TLS context costs ~20 ms of
    CPU: more than the rest of an account's sync. The caller closes it on shutdown.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        headers={"User-Agent": "adpilot/0.1"},
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
    )


def build_registry(
    settings: Settings,
    database: Database | None,
    *,
    simulate_unconfigured: bool = False,
    http_client: httpx.AsyncClient | None = None,
) -> PlatformRegistry:
    """Every platform this build knows; `sandbox` only when a database is given.

    With `simulate_unconfigured` (the embedded mode; never in production), a real platform
    without app credentials is served by the sandbox under its own name, so a demo account
    labelled "meta" reports and executes like one. With `http_client`, the HTTP adapters share
    it (and leave it open when closed).
    """
    registry = PlatformRegistry()
    registry.register("google", lambda: GoogleAdsAdapter(settings, client=http_client))
    registry.register("meta", lambda: MetaAdsAdapter(settings, client=http_client))
    registry.register("tiktok", lambda: TikTokAdsAdapter(settings, client=http_client))
    if database is None:
        return registry
    registry.register("sandbox", lambda: SandboxAdapter(database))
    if simulate_unconfigured and not settings.is_production:
        for name in set(REAL_PLATFORMS) - configured_platforms(settings):
            registry.register(name, _simulated(database, name))
    return registry


def _simulated(database: Database, name: str) -> Callable[[], AdPlatform]:
    return lambda: SandboxAdapter(database, name=name)


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
