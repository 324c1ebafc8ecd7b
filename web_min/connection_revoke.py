"""After a disconnect: ask the platform to end the grant, and tell the admin what it said."""

from __future__ import annotations

from fastapi import FastAPI

from core.accounts import revocation
from core.accounts.revocation import Revocation, RevokeOutcome
from core.config import Settings
from core.errors import NotFound
from core.ports import PlatformRegistry, TokenSet


async def revoke_held_tokens(
    app: FastAPI, platform_name: str, tokens: TokenSet | None
) -> Revocation:
    """Best effort, bounded by `platform_revoke_timeout_seconds`; never raises."""
    settings: Settings = app.state.settings
    registry: PlatformRegistry = app.state.registry
    try:
        platform = registry.get(platform_name)
    except NotFound:
        return Revocation(RevokeOutcome.FAILED, "this installation no longer serves the platform")
    try:
        return await revocation.revoke_at_platform(
            platform=platform, tokens=tokens, wait_seconds=settings.platform_revoke_timeout_seconds
        )
    finally:
        close = getattr(platform, "aclose", None)
        if close is not None:
            await close()


def disconnected_message(name: str, label: str, outcome: Revocation) -> tuple[str, str]:
    """The flash text and kind: whether the platform confirmed, and what is left to do if not."""
    done = f"Disconnected {name}: its tokens are deleted and it no longer syncs."
    if outcome.outcome is RevokeOutcome.REVOKED:
        return f"{done} {label} confirmed that AdPilot's access is revoked.", "success"
    if outcome.outcome is RevokeOutcome.ALREADY_INVALID:
        return f"{done} {label} reports the access had already ended.", "success"
    if outcome.outcome is RevokeOutcome.NOT_OFFERED:
        return (
            f"{done} {label} offers no way for us to revoke the access: remove AdPilot from the "
            f"authorized apps in your {label} account settings.",
            "warning",
        )
    if outcome.outcome is RevokeOutcome.FAILED:
        return (
            f"{done} {label} did not confirm revoking the access ({outcome.reason}); to be sure, "
            f"remove AdPilot from the connected apps in your {label} account settings.",
            "warning",
        )
    return done, "success"
