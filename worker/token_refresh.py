"""Access tokens renewed ahead of expiry (every 5 min), and when a sync finds one refused.

Per platform (docs/decisions.md): Google access tokens last an hour and are renewed with the
stored refresh token; Meta's long-lived tokens (~60 days) have no refresh token and are
exchanged while still valid; TikTok advertiser tokens do not expire and cannot be refreshed.
A per-account Redis lock means two workers never refresh the same account at once.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.accounts import service as accounts
from core.accounts.models import AdAccount
from core.accounts.service import AccountRef
from core.base import utcnow
from core.db import Database
from core.errors import AuthExpired
from core.notify.admin_alerts import notify_admins
from core.ports import AdPlatform, PlatformRegistry, TokenSet
from worker.account_locks import refresh_lock

log = logging.getLogger(__name__)

# How long before expiry a token is renewed. Platforms missing here have nothing to renew.
MARGINS: dict[str, timedelta] = {
    # Tokens last an hour; 15 minutes leaves two more 5-minute ticks if one refresh fails.
    "google": timedelta(minutes=15),
    # An expired Meta token cannot be exchanged: renew a week early, with room for outages.
    "meta": timedelta(days=7),
    "sandbox": timedelta(minutes=15),
}


class Outcome(enum.StrEnum):
    REFRESHED = "refreshed"
    NOT_DUE = "not_due"
    BUSY = "busy"
    AUTH_ERROR = "auth_error"
    FAILED = "failed"


@dataclass(frozen=True)
class Refreshed:
    outcome: Outcome
    access_token: str | None = None


async def close_adapter(adapter: AdPlatform) -> None:
    """Adapters own an HTTP client; the protocol does not promise `aclose`, most have it."""
    aclose = getattr(adapter, "aclose", None)
    if aclose is not None:
        await aclose()


def refresh_argument(platform: str, tokens: TokenSet) -> str | None:
    """What the platform's refresh call takes, or None when this account cannot be refreshed."""
    if tokens.refresh_token:
        return tokens.refresh_token
    # Meta has no refresh token: the still-valid long-lived token is itself exchanged.
    if platform == "meta" and tokens.access_token:
        return tokens.access_token
    return None


def is_due(platform: str, expires_at: datetime | None, now: datetime) -> bool:
    margin = MARGINS.get(platform)
    return margin is not None and expires_at is not None and expires_at <= now + margin


@asynccontextmanager
async def _lock(redis: Any | None, account_id: uuid.UUID) -> AsyncIterator[bool]:
    if redis is None:  # `adpilot sync` without Redis: one process, nothing to race with
        yield True
        return
    async with refresh_lock(redis, account_id) as taken:
        yield taken


async def refresh_account(
    *,
    database: Database,
    registry: PlatformRegistry,
    redis: Any | None,
    account_id: uuid.UUID,
    refused_token: str | None = None,
) -> Refreshed:
    """Renew one account's token when due (or, given `refused_token`, because it was refused).

    AuthExpired goes up when the platform will not renew it: the user has to reconnect.
    """
    async with _lock(redis, account_id) as taken:
        if not taken:
            return Refreshed(Outcome.BUSY)
        async with database.system() as session:
            account: AdAccount = await accounts.get(session=session, account_id=account_id)
            platform_name = account.platform
            tokens = accounts.tokens_of(account)
        if refused_token is not None and tokens.access_token != refused_token:
            # Someone renewed it between the refusal and our lock: use theirs.
            return Refreshed(Outcome.REFRESHED, tokens.access_token)
        if refused_token is None and not is_due(platform_name, tokens.expires_at, utcnow()):
            return Refreshed(Outcome.NOT_DUE)
        argument = refresh_argument(platform_name, tokens)
        if argument is None:
            raise AuthExpired(f"{platform_name} cannot renew this token; reconnect the account.")
        adapter = registry.get(platform_name)
        try:
            fresh = await adapter.refresh_token(refresh_token=argument)
        finally:
            await close_adapter(adapter)
        async with database.system() as session:
            await accounts.store_tokens(session=session, account_id=account_id, tokens=fresh)
        log.info("renewed the %s token of ad account %s", platform_name, account_id)
        return Refreshed(Outcome.REFRESHED, fresh.access_token)


def auth_error_payload(account: AccountRef) -> dict[str, Any]:
    platform = account.platform.capitalize()
    return {
        "kind": "auth_error",
        "text": (
            f"AdPilot lost access to the {platform} ad account {account.name!r}: its token was "
            "refused and could not be renewed. Metrics stop syncing until it is reconnected."
        ),
        "reconnect_hint": (
            f"An admin reconnects {platform} in AdPilot's ad-account settings (sign in to "
            f"{platform} again); syncing resumes on the next cycle."
        ),
        "account_id": str(account.id),
        "platform": account.platform,
    }


async def report_auth_error(*, database: Database, account: AccountRef, error: str) -> bool:
    """Mark the account `auth_error`; the org's admins are told on the first failure only.

    Flag and notifications share one transaction, so the alert exists exactly when the flag
    was set by us. True when this call notified.
    """
    async with database.system() as session:
        first = await accounts.mark_auth_error(session=session, account_id=account.id, error=error)
        if first:
            await notify_admins(
                session=session, org_id=account.org_id, payload=auth_error_payload(account)
            )
    if first:
        log.warning("ad account %s lost its authorisation; admins notified", account.id)
    return first


async def refresh_expiring_tokens(ctx: dict[str, Any]) -> dict[str, int]:
    """Cron, every 5 minutes: renew every token that expires within its platform's margin."""
    database: Database = ctx["database"]
    registry: PlatformRegistry = ctx["registry"]
    async with database.system() as session:
        due = await accounts.due_for_refresh(session=session, margins=MARGINS)
    counts: dict[str, int] = {}
    for account_id in due:
        try:
            result = await refresh_account(
                database=database, registry=registry, redis=ctx.get("redis"), account_id=account_id
            )
            outcome = result.outcome
        except AuthExpired as exc:
            await _refused(database, account_id, exc)
            outcome = Outcome.AUTH_ERROR
        except Exception:
            # One account's outage must not stop the others; the next tick tries again.
            log.exception("token refresh of ad account %s failed", account_id)
            outcome = Outcome.FAILED
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    return counts


async def _refused(database: Database, account_id: uuid.UUID, exc: AuthExpired) -> None:
    async with database.system() as session:
        account = AccountRef.of(await accounts.get(session=session, account_id=account_id))
    await report_auth_error(database=database, account=account, error=exc.message)
