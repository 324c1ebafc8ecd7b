"""An org's ad accounts as its admins manage them: list, connect picked ones, disconnect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import service as accounts
from core.accounts.connect import Grant
from core.accounts.models import AdAccount
from core.audit import service as audit
from core.audit.service import Actor
from core.errors import AuthExpired, NotFound, ValidationFailed
from core.ports import TokenSet

NEVER_SYNCED = "never"
# Reconnected: new tokens, not yet proven by a sync (clears an auth_error's "already told").
PENDING = "pending"
DISCONNECTED = "disconnected"


async def list_for_org(*, session: AsyncSession, org_id: uuid.UUID) -> list[AdAccount]:
    """The org's accounts, connected or not, by platform then name."""
    query = (
        select(AdAccount)
        .where(AdAccount.org_id == org_id)
        .order_by(AdAccount.platform, AdAccount.name, AdAccount.id)
    )
    return list(await session.scalars(query))


async def get_for_org(
    *, session: AsyncSession, org_id: uuid.UUID, account_id: uuid.UUID
) -> AdAccount:
    """One of the org's accounts; another org's id is NotFound, as is an unknown one."""
    account = await session.get(AdAccount, account_id)
    if account is None or account.org_id != org_id:
        raise NotFound("No such ad account.")
    return account


def is_connected(account: AdAccount) -> bool:
    return account.access_token_encrypted is not None


async def connect_accounts(
    *,
    session: AsyncSession,
    actor: Actor,
    platform_name: str,
    grant: Grant,
    external_ids: Sequence[str],
) -> list[AdAccount]:
    """Store the picked accounts (only ones the grant listed) with the grant's tokens."""
    offered = {account.external_id: account for account in grant.accounts}
    picked = list(dict.fromkeys(external_ids))
    if not picked:
        raise ValidationFailed("Pick at least one ad account.", field="account")
    unknown = [external_id for external_id in picked if external_id not in offered]
    if unknown:
        raise ValidationFailed("That account was not part of this sign-in.", field="account")
    stored: list[AdAccount] = []
    for external_id in picked:
        listed = offered[external_id]
        account = await session.scalar(
            select(AdAccount).where(
                AdAccount.org_id == actor.org_id,
                AdAccount.platform == platform_name,
                AdAccount.external_id == external_id,
            )
        )
        action = "ad_account.reconnected"
        if account is None:
            account = AdAccount(
                org_id=actor.org_id, platform=platform_name, external_id=external_id
            )
            session.add(account)
            account.sync_status = NEVER_SYNCED
            action = "ad_account.connected"
        else:
            account.sync_status = PENDING
        account.name = listed.name
        account.currency = listed.currency
        account.timezone = listed.timezone
        account.last_error = None
        await session.flush()
        await accounts.store_tokens(session=session, account_id=account.id, tokens=grant.tokens)
        await audit.record(
            session=session,
            actor=actor,
            action=action,
            resource_type="ad_account",
            resource_id=account.id,
            after={"platform": platform_name, "external_id": external_id, "name": listed.name},
        )
        stored.append(account)
    return stored


@dataclass(frozen=True)
class Disconnected:
    """The account as disconnected, and the tokens it held, for revoking at the platform."""

    account: AdAccount
    # None when nothing was stored (already disconnected) or no key can read it any more.
    tokens: TokenSet | None


def _held_tokens(account: AdAccount) -> TokenSet | None:
    if not is_connected(account):
        return None
    try:
        return accounts.tokens_of(account)
    except AuthExpired:
        return None


async def disconnect(*, session: AsyncSession, actor: Actor, account_id: uuid.UUID) -> Disconnected:
    """Delete the account's tokens (so no job syncs it); its history stays.

    The tokens come back to the caller, who asks the platform to revoke them after this
    transaction commits: a platform that is down must never keep them in our database.
    """
    account = await get_for_org(session=session, org_id=actor.org_id, account_id=account_id)
    held = _held_tokens(account)
    before = {"sync_status": account.sync_status, "connected": is_connected(account)}
    await session.execute(
        update(AdAccount)
        .where(AdAccount.id == account.id)
        .values(
            access_token_encrypted=None,
            refresh_token_encrypted=None,
            token_expires_at=None,
            sync_status=DISCONNECTED,
            last_error=None,
        )
    )
    await audit.record(
        session=session,
        actor=actor,
        action="ad_account.disconnected",
        resource_type="ad_account",
        resource_id=account.id,
        before=before,
        after={"platform": account.platform, "external_id": account.external_id},
    )
    await session.refresh(account)
    return Disconnected(account=account, tokens=held)
