"""Ad accounts as the background jobs see them: which to sync, tokens, and their sync state."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.base import utcnow
from core.errors import AuthExpired, NotFound
from core.ports import TokenSet
from core.security import crypto

SYNC_OK = "ok"
SYNC_ERROR = "error"
AUTH_ERROR = "auth_error"


@dataclass(frozen=True)
class AccountRef:
    """What a sync needs of an account, read once so no session stays open across calls."""

    id: uuid.UUID
    org_id: uuid.UUID
    platform: str
    external_id: str
    name: str
    currency: str
    timezone: str
    sync_status: str

    @classmethod
    def of(cls, account: AdAccount) -> AccountRef:
        return cls(
            id=account.id,
            org_id=account.org_id,
            platform=account.platform,
            external_id=account.external_id,
            name=account.name,
            currency=account.currency,
            timezone=account.timezone,
            sync_status=account.sync_status,
        )


async def get(*, session: AsyncSession, account_id: uuid.UUID) -> AdAccount:
    """One account by id, across orgs (worker and admin CLI sessions)."""
    account = await session.get(AdAccount, account_id)
    if account is None:
        raise NotFound(f"No ad account with id {account_id}.")
    return account


async def syncable(*, session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """(id, platform) of every connected account: one holding an access token."""
    query = (
        select(AdAccount.id, AdAccount.platform)
        .where(AdAccount.access_token_encrypted.is_not(None))
        .order_by(AdAccount.platform, AdAccount.id)
    )
    return [(account_id, platform) for account_id, platform in (await session.execute(query))]


def tokens_of(account: AdAccount) -> TokenSet:
    """The account's decrypted tokens (an empty access token when none is stored).

    Tokens no configured key can read count as lost authorisation: the fix is a reconnect.
    """
    try:
        return TokenSet(
            access_token=crypto.decrypt_optional(account.access_token_encrypted) or "",
            refresh_token=crypto.decrypt_optional(account.refresh_token_encrypted),
            expires_at=account.token_expires_at,
        )
    except crypto.DecryptionFailed as exc:
        raise AuthExpired(
            f"The stored tokens of account {account.name!r} cannot be read; reconnect it."
        ) from exc


async def store_tokens(*, session: AsyncSession, account_id: uuid.UUID, tokens: TokenSet) -> None:
    """New tokens, encrypted; a refresh that returned no refresh token keeps the stored one."""
    values: dict[str, object] = {
        "access_token_encrypted": crypto.encrypt(tokens.access_token),
        "token_expires_at": tokens.expires_at,
    }
    if tokens.refresh_token is not None:
        values["refresh_token_encrypted"] = crypto.encrypt(tokens.refresh_token)
    await session.execute(update(AdAccount).where(AdAccount.id == account_id).values(**values))


async def due_for_refresh(
    *, session: AsyncSession, margins: Mapping[str, timedelta], now: datetime | None = None
) -> list[uuid.UUID]:
    """Accounts whose token expires within their platform's margin (platforms not named: never)."""
    current = now or utcnow()
    clauses = [
        and_(AdAccount.platform == platform, AdAccount.token_expires_at <= current + margin)
        for platform, margin in margins.items()
    ]
    if not clauses:
        return []
    query = (
        select(AdAccount.id)
        .where(AdAccount.access_token_encrypted.is_not(None), or_(*clauses))
        .order_by(AdAccount.token_expires_at)
    )
    return list(await session.scalars(query))


async def mark_synced(*, session: AsyncSession, account_id: uuid.UUID) -> None:
    """A sync went through: the account is healthy again (an auth error is cleared)."""
    await session.execute(
        update(AdAccount)
        .where(AdAccount.id == account_id)
        .values(sync_status=SYNC_OK, last_synced_at=utcnow(), last_error=None)
    )


async def mark_failed(*, session: AsyncSession, account_id: uuid.UUID, error: str) -> None:
    await session.execute(
        update(AdAccount)
        .where(AdAccount.id == account_id)
        .values(sync_status=SYNC_ERROR, last_error=error[:2000])
    )


async def mark_auth_error(*, session: AsyncSession, account_id: uuid.UUID, error: str) -> bool:
    """Flag the account's lost authorisation; True only for the call that set the flag.

    The status is the "already told" flag: a conditional UPDATE, so of two workers (or two
    cycles) failing on the same account exactly one notifies, until a good sync clears it.
    """
    result = await session.execute(
        update(AdAccount)
        .where(AdAccount.id == account_id, AdAccount.sync_status != AUTH_ERROR)
        .values(sync_status=AUTH_ERROR, last_error=error[:2000])
        .returning(AdAccount.id)
    )
    if result.first() is not None:
        return True
    await session.execute(
        update(AdAccount).where(AdAccount.id == account_id).values(last_error=error[:2000])
    )
    return False
