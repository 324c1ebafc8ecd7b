"""The OAuth handshake's guards: a hashed, session-bound, single-use, expiring state; PKCE."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.google_ads import GoogleAdsAdapter
from adapters.meta_ads import MetaAdsAdapter
from core.accounts import connect
from core.accounts.connect import ConsentRejected, Grant
from core.accounts.models import OAuthState
from core.base import utcnow
from core.config import Settings
from core.orgs.models import Organization
from core.ports import AdPlatform, PlatformAccount, TokenSet
from core.users.models import Role, User
from tests import factories

SESSION_A = "web-session-a"
SESSION_B = "web-session-b"
REDIRECT = "https://adpilot.test/oauth/google/callback"


@pytest.fixture
def apps(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "google_client_id": "gid.apps.googleusercontent.com",
            "google_client_secret": SecretStr("gsecret"),
            "meta_app_id": "meta-app",
            "meta_app_secret": SecretStr("meta-secret"),
        }
    )


async def _start(
    session: AsyncSession,
    apps: Settings,
    *,
    platform: AdPlatform | None = None,
    session_id: str = SESSION_A,
    now: datetime | None = None,
) -> tuple[Organization, User, str, str]:
    organization = await factories.org(session)
    admin = await factories.user(session, organization, role=Role.ADMIN)
    url = await connect.start(
        session=session,
        org_id=organization.id,
        user_id=admin.id,
        session_id=session_id,
        platform=platform or GoogleAdsAdapter(apps),
        redirect_uri=REDIRECT,
        now=now,
    )
    state = parse_qs(urlparse(url).query)["state"][0]
    return organization, admin, url, state


async def test_state_is_stored_only_as_hashes_with_an_encrypted_verifier(session, apps) -> None:
    _, _, url, state = await _start(session, apps)
    stored = (await session.scalars(select(OAuthState))).one()
    assert stored.state_hash == hashlib.sha256(state.encode()).hexdigest()
    assert stored.session_hash == hashlib.sha256(SESSION_A.encode()).hexdigest()
    assert stored.code_verifier_encrypted is not None
    assert state not in str(vars(stored))
    query = parse_qs(urlparse(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [REDIRECT]


async def test_google_challenge_is_the_s256_of_the_verifier_claim_returns(session, apps) -> None:
    _, admin, url, state = await _start(session, apps)
    claimed = await connect.claim(
        session=session, platform_name="google", state=state, session_id=SESSION_A, user_id=admin.id
    )
    assert claimed.code_verifier is not None
    expected = base64.urlsafe_b64encode(hashlib.sha256(claimed.code_verifier.encode()).digest())
    assert parse_qs(urlparse(url).query)["code_challenge"] == [expected.rstrip(b"=").decode()]


async def test_meta_gets_no_pkce(session, apps) -> None:
    _, admin, url, state = await _start(session, apps, platform=MetaAdsAdapter(apps))
    assert "code_challenge" not in parse_qs(urlparse(url).query)
    claimed = await connect.claim(
        session=session, platform_name="meta", state=state, session_id=SESSION_A, user_id=admin.id
    )
    assert claimed.code_verifier is None


async def test_a_state_is_single_use(session, apps) -> None:
    _, admin, _, state = await _start(session, apps)
    await connect.claim(
        session=session, platform_name="google", state=state, session_id=SESSION_A, user_id=admin.id
    )
    with pytest.raises(ConsentRejected) as refused:
        await connect.claim(
            session=session,
            platform_name="google",
            state=state,
            session_id=SESSION_A,
            user_id=admin.id,
        )
    assert refused.value.reason == "replayed"


async def test_another_browser_session_is_refused_and_burns_nothing(session, apps) -> None:
    _, admin, _, state = await _start(session, apps)
    with pytest.raises(ConsentRejected) as refused:
        await connect.claim(
            session=session,
            platform_name="google",
            state=state,
            session_id=SESSION_B,
            user_id=admin.id,
        )
    assert refused.value.reason == "other_session"
    # The browser that started it still can finish.
    await connect.claim(
        session=session, platform_name="google", state=state, session_id=SESSION_A, user_id=admin.id
    )


async def test_expired_and_unknown_and_wrong_platform_states(session, apps) -> None:
    long_ago = utcnow() - connect.STATE_TTL - timedelta(seconds=1)
    _, admin, _, state = await _start(session, apps, now=long_ago)
    cases = [(state, "google", "expired"), ("made-up", "google", "unknown")]
    cases.append((state, "meta", "unknown"))
    for given, platform_name, reason in cases:
        with pytest.raises(ConsentRejected) as refused:
            await connect.claim(
                session=session,
                platform_name=platform_name,
                state=given,
                session_id=SESSION_A,
                user_id=admin.id,
            )
        assert refused.value.reason == reason


def _grant() -> Grant:
    return Grant(
        tokens=TokenSet(access_token="at-secret", refresh_token="rt-secret"),
        accounts=[
            PlatformAccount(external_id="1", name="One", currency="EUR", timezone="Europe/Berlin")
        ],
    )


async def test_the_grant_is_held_encrypted_and_taken_once(session, apps) -> None:
    _, admin, _, state = await _start(session, apps)
    claimed = await connect.claim(
        session=session, platform_name="google", state=state, session_id=SESSION_A, user_id=admin.id
    )
    await connect.hold_grant(session=session, flow_id=claimed.flow_id, grant=_grant())
    fresh = select(OAuthState).execution_options(populate_existing=True)
    stored = (await session.scalars(fresh)).one()
    assert stored.grant_encrypted is not None
    assert "at-secret" not in stored.grant_encrypted
    assert stored.code_verifier_encrypted is None
    flow, google = claimed.flow_id, "google"
    with pytest.raises(ConsentRejected):
        await connect.read_grant(
            session=session, session_id=SESSION_B, flow_id=flow, platform_name=google
        )
    taken = await connect.take_grant(
        session=session, session_id=SESSION_A, flow_id=flow, platform_name=google
    )
    assert taken == _grant()
    with pytest.raises(ConsentRejected) as again:
        await connect.take_grant(
            session=session, session_id=SESSION_A, flow_id=flow, platform_name=google
        )
    assert again.value.reason == "pick_gone"


async def test_two_racing_callbacks_one_wins(database, apps) -> None:
    """Separate transactions on the real engines: the conditional UPDATE lets exactly one by."""
    async with database.system() as system:
        organization = await factories.org(system)
        admin = await factories.user(system, organization, role=Role.ADMIN)
    async with database.tenant(organization.id) as session:
        url = await connect.start(
            session=session,
            org_id=organization.id,
            user_id=admin.id,
            session_id=SESSION_A,
            platform=GoogleAdsAdapter(apps),
            redirect_uri=REDIRECT,
        )
    state = parse_qs(urlparse(url).query)["state"][0]

    async def attempt() -> str:
        try:
            async with database.tenant(organization.id) as session:
                await connect.claim(
                    session=session,
                    platform_name="google",
                    state=state,
                    session_id=SESSION_A,
                    user_id=admin.id,
                )
                await asyncio.sleep(0.05)  # hold the row while the other one tries
            return "won"
        except ConsentRejected as refused:
            return refused.reason

    outcomes = sorted(await asyncio.gather(*(attempt() for _ in range(4))))
    assert outcomes == ["replayed", "replayed", "replayed", "won"]


async def test_two_racing_picks_one_takes_the_grant(database, apps) -> None:
    async with database.system() as system:
        organization = await factories.org(system)
        admin = await factories.user(system, organization, role=Role.ADMIN)
    async with database.tenant(organization.id) as session:
        url = await connect.start(
            session=session,
            org_id=organization.id,
            user_id=admin.id,
            session_id=SESSION_A,
            platform=GoogleAdsAdapter(apps),
            redirect_uri=REDIRECT,
        )
        claimed = await connect.claim(
            session=session,
            platform_name="google",
            state=_query_state(url),
            session_id=SESSION_A,
            user_id=admin.id,
        )
        await connect.hold_grant(session=session, flow_id=claimed.flow_id, grant=_grant())

    async def attempt() -> str:
        try:
            async with database.tenant(organization.id) as session:
                await connect.take_grant(
                    session=session,
                    flow_id=claimed.flow_id,
                    platform_name="google",
                    session_id=SESSION_A,
                )
                await asyncio.sleep(0.05)  # hold the row while the others try
            return "took"
        except ConsentRejected as refused:
            return refused.reason

    outcomes = sorted(await asyncio.gather(*(attempt() for _ in range(3))))
    assert outcomes == ["pick_gone", "pick_gone", "took"]


def _query_state(url: str) -> str:
    return parse_qs(urlparse(url).query)["state"][0]
