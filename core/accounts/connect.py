"""Connecting ad accounts through OAuth: a session-bound single-use state, PKCE, then a pick.

    url = await start(session=..., org_id=..., user_id=..., session_id=..., platform=...,
                      redirect_uri=...)                         # 303 the browser to `url`
    claimed = await claim(session=..., platform_name=..., state=..., session_id=..., ...)
    grant = await exchange(platform=..., code=..., redirect_uri=..., claimed=claimed)
    await hold_grant(session=..., flow_id=claimed.flow_id, grant=grant)   # then the pick page
    grant = await take_grant(...)                               # once, when the pick is posted
    await accounts_flow.connect_accounts(...)                   # core.accounts.manage

Only hashes of the state and of the web session id are stored; the PKCE verifier and the
grant are encrypted. Codes and tokens are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import OAuthState
from core.base import utcnow
from core.errors import CoreError
from core.ports import AdPlatform, PlatformAccount, TokenSet
from core.security import crypto

# Long enough to sign in at the platform; TikTok's auth_code itself lives 10 minutes.
STATE_TTL = timedelta(minutes=10)
# From the callback to the account pick.
PICK_TTL = timedelta(minutes=15)


class ConsentRejected(CoreError):
    """A callback or pick that cannot be honoured; `reason` says which check refused it."""

    code = "consent_rejected"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


_REASONS = {
    "unknown": "That answer from the platform does not match a connection started here. "
    "Start again from this page.",
    "other_session": "That connection was started in another browser session, so it was "
    "refused. Start again from this browser.",
    "replayed": "That answer from the platform was already used. "
    "Start again to connect more accounts.",
    "expired": "The connection attempt expired (it is valid for 10 minutes). Start again.",
    "pick_gone": "This account choice has expired or was already saved. Start again.",
}


def rejected(reason: str) -> ConsentRejected:
    return ConsentRejected(_REASONS[reason], reason=reason)


class PkcePlatform(Protocol):
    """An adapter whose OAuth methods take PKCE (it sets `supports_pkce = True`)."""

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None = None
    ) -> str: ...

    async def authenticate(
        self, *, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet: ...


def supports_pkce(platform: AdPlatform) -> bool:
    return getattr(platform, "supports_pkce", False) is True


def digest(value: str) -> str:
    """SHA-256 hex: how states and web session ids are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636: 86 unreserved characters, then its hash."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


async def start(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    session_id: str,
    platform: AdPlatform,
    redirect_uri: str,
    now: datetime | None = None,
) -> str:
    """The platform's consent URL; the state is stored as a hash bound to this web session."""
    current = now or utcnow()
    state = secrets.token_urlsafe(32)
    verifier: str | None = None
    if supports_pkce(platform):
        verifier, challenge = pkce_pair()
        url = cast(PkcePlatform, platform).authorization_url(
            state=state, redirect_uri=redirect_uri, code_challenge=challenge
        )
    else:
        url = platform.authorization_url(state=state, redirect_uri=redirect_uri)
    # Expired handshakes are swept on start, so the table stays the size of live ones.
    await session.execute(
        delete(OAuthState).where(OAuthState.org_id == org_id, OAuthState.expires_at <= current)
    )
    session.add(
        OAuthState(
            state_hash=digest(state),
            org_id=org_id,
            user_id=user_id,
            platform=platform.name,
            session_hash=digest(session_id),
            code_verifier_encrypted=crypto.encrypt_optional(verifier),
            expires_at=current + STATE_TTL,
        )
    )
    await session.flush()
    return url


@dataclass(frozen=True)
class ClaimedState:
    """A state consumed by its callback: `flow_id` names the handshake from here on."""

    flow_id: str
    code_verifier: str | None


async def claim(
    *,
    session: AsyncSession,
    platform_name: str,
    state: str,
    session_id: str,
    user_id: uuid.UUID,
    now: datetime | None = None,
) -> ClaimedState:
    """Consume the state, or raise ConsentRejected saying why not.

    One conditional UPDATE decides: of two callbacks racing with the same state only one sees
    its row change, and a callback from another browser session changes nothing.
    """
    current = now or utcnow()
    hashed = digest(state)
    result = await session.execute(
        update(OAuthState)
        .where(
            OAuthState.state_hash == hashed,
            OAuthState.platform == platform_name,
            OAuthState.session_hash == digest(session_id),
            OAuthState.user_id == user_id,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > current,
        )
        .values(used_at=current)
        .returning(OAuthState.code_verifier_encrypted)
    )
    row = result.first()
    if row is None:
        raise rejected(await _why_refused(session, hashed, platform_name, session_id, current))
    return ClaimedState(flow_id=hashed, code_verifier=crypto.decrypt_optional(row[0]))


async def _why_refused(
    session: AsyncSession, hashed: str, platform_name: str, session_id: str, now: datetime
) -> str:
    stored = await session.get(OAuthState, hashed, populate_existing=True)
    if stored is None or stored.platform != platform_name:
        return "unknown"
    if stored.session_hash != digest(session_id):
        return "other_session"
    if stored.used_at is not None:
        return "replayed"
    return "expired" if stored.expires_at <= now else "unknown"


@dataclass(frozen=True)
class Grant:
    """What a consent gave: the tokens and the ad accounts they reach."""

    tokens: TokenSet
    accounts: list[PlatformAccount]

    def dump(self) -> str:
        return json.dumps(
            {
                "tokens": self.tokens.model_dump(mode="json"),
                "accounts": [account.model_dump(mode="json") for account in self.accounts],
            }
        )

    @classmethod
    def load(cls, raw: str) -> Grant:
        data = json.loads(raw)
        return cls(
            tokens=TokenSet.model_validate(data["tokens"]),
            accounts=[PlatformAccount.model_validate(item) for item in data["accounts"]],
        )


async def exchange(
    *, platform: AdPlatform, code: str, redirect_uri: str, claimed: ClaimedState
) -> Grant:
    """Trade the code (with its PKCE verifier when one was sent) and list the reachable accounts.

    Platform errors go up as they are (PlatformError); their messages carry no code or token.
    """
    if claimed.code_verifier is not None and supports_pkce(platform):
        tokens = await cast(PkcePlatform, platform).authenticate(
            code=code, redirect_uri=redirect_uri, code_verifier=claimed.code_verifier
        )
    else:
        tokens = await platform.authenticate(code=code, redirect_uri=redirect_uri)
    found = await platform.list_accounts(access_token=tokens.access_token)
    return Grant(tokens=tokens, accounts=found)


async def hold_grant(
    *, session: AsyncSession, flow_id: str, grant: Grant, now: datetime | None = None
) -> None:
    """Keep the grant (encrypted) for the pick; the verifier has done its job and goes."""
    current = now or utcnow()
    await session.execute(
        update(OAuthState)
        .where(OAuthState.state_hash == flow_id)
        .values(
            grant_encrypted=crypto.encrypt(grant.dump()),
            code_verifier_encrypted=None,
            expires_at=current + PICK_TTL,
        )
    )


def _held(flow_id: str, platform_name: str, session_id: str, now: datetime) -> list[object]:
    return [
        OAuthState.state_hash == flow_id,
        OAuthState.platform == platform_name,
        OAuthState.session_hash == digest(session_id),
        OAuthState.grant_encrypted.is_not(None),
        OAuthState.expires_at > now,
    ]


async def read_grant(
    *,
    session: AsyncSession,
    flow_id: str,
    platform_name: str,
    session_id: str,
    now: datetime | None = None,
) -> Grant:
    """The held grant, for showing the pick page (not consumed)."""
    query = select(OAuthState.grant_encrypted).where(
        *_held(flow_id, platform_name, session_id, now or utcnow())  # type: ignore[arg-type]
    )
    raw = await session.scalar(query)
    if raw is None:
        raise rejected("pick_gone")
    return Grant.load(crypto.decrypt(raw))


async def take_grant(
    *,
    session: AsyncSession,
    flow_id: str,
    platform_name: str,
    session_id: str,
    now: datetime | None = None,
) -> Grant:
    """The held grant, consumed: a conditional UPDATE decides, so a pick is saved once."""
    current = now or utcnow()
    grant = await read_grant(
        session=session,
        flow_id=flow_id,
        platform_name=platform_name,
        session_id=session_id,
        now=current,
    )
    # RETURNING gives the new (cleared) value, so the grant was read first; of two racing
    # picks only one still finds it set here.
    result = await session.execute(
        update(OAuthState)
        .where(*_held(flow_id, platform_name, session_id, current))  # type: ignore[arg-type]
        .values(grant_encrypted=None)
        .returning(OAuthState.state_hash)
    )
    if result.first() is None:
        raise rejected("pick_gone")
    return grant
