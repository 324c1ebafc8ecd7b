"""Ad platforms behind core.ports.AdPlatform: google_ads, meta_ads, tiktok_ads and sandbox."""

from adapters.base import call_with_refresh
from adapters.registry import PLATFORMS, build_registry, get_adapter

__all__ = ["PLATFORMS", "build_registry", "call_with_refresh", "get_adapter"]
