"""Slack OAuth v2 storage on our database: bolt's installation and state stores.

Bot tokens (and refresh tokens, when the app rotates them) are stored encrypted with the
MultiFernet cipher, so `adpilot rotate-keys` covers them. Installations are per workspace
(team, or enterprise for org-wide installs) and read through the worker login, because bolt
needs a team's token before anyone is identified (migration 0006 says why there is no org).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select

from core.base import utcnow
from core.db import Database
from core.events.models import SlackInstallation, SlackOAuthState
from core.security.crypto import Cipher

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _expires_at(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> Any:
    """The row of an install: org-wide installs are keyed by enterprise alone."""
    enterprise = enterprise_id or ""
    team = "" if is_enterprise_install else (team_id or "")
    return (SlackInstallation.enterprise_id == enterprise) & (SlackInstallation.team_id == team)


class DatabaseInstallationStore(AsyncInstallationStore):
    """One row per workspace install; a reinstall replaces the token in place."""

    def __init__(self, database: Database, cipher: Cipher) -> None:
        self.database = database
        self.cipher = cipher

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        if not bot.bot_token:
            return  # a user-token-only install: we ask for no user scopes, nothing to keep
        enterprise = bot.enterprise_id or ""
        team = "" if bot.is_enterprise_install else (bot.team_id or "")
        values: dict[str, Any] = {
            "team_name": bot.team_name,
            "app_id": bot.app_id,
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": ",".join(bot.bot_scopes),
            "bot_token_encrypted": self.cipher.encrypt(bot.bot_token),
            "bot_refresh_token_encrypted": (
                self.cipher.encrypt(bot.bot_refresh_token) if bot.bot_refresh_token else None
            ),
            "bot_token_expires_at": _expires_at(bot.bot_token_expires_at),
            "is_enterprise_install": bool(bot.is_enterprise_install),
        }
        async with self.database.system() as session:
            row = await session.scalar(
                select(SlackInstallation)
                .where(_key(enterprise, team, bot.is_enterprise_install))
                .with_for_update()
            )
            if row is None:
                session.add(SlackInstallation(enterprise_id=enterprise, team_id=team, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_at = utcnow()
        log.info("slack app installed", extra={"team": team, "enterprise": enterprise})

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        async with self.database.system() as session:
            row = await session.scalar(
                select(SlackInstallation).where(_key(enterprise_id, team_id, is_enterprise_install))
            )
            if row is None and enterprise_id and not is_enterprise_install:
                # A workspace of an enterprise grid served by an org-wide install.
                row = await session.scalar(
                    select(SlackInstallation).where(_key(enterprise_id, None, True))
                )
        if row is None:
            return None
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id or None,
            team_id=row.team_id or None,
            team_name=row.team_name,
            bot_token=self.cipher.decrypt(row.bot_token_encrypted),
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=row.bot_scopes,
            bot_refresh_token=(
                self.cipher.decrypt(row.bot_refresh_token_encrypted)
                if row.bot_refresh_token_encrypted
                else None
            ),
            bot_token_expires_at=row.bot_token_expires_at,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=(row.updated_at or row.created_at),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.database.system() as session:
            await session.execute(
                delete(SlackInstallation).where(
                    SlackInstallation.enterprise_id == (enterprise_id or ""),
                    SlackInstallation.team_id == (team_id or ""),
                )
            )
        log.info(
            "slack app uninstalled",
            extra={"team": team_id or "", "enterprise": enterprise_id or ""},
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # we keep no user tokens: only a workspace uninstall removes a row
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def bot_token(self, team_id: str, enterprise_id: str | None = None) -> str | None:
        """The team's bot token for outbound calls outside a request (a card redrawn later)."""
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        return None if bot is None else bot.bot_token


class DatabaseOAuthStateStore(AsyncOAuthStateStore):
    """OAuth `state` values: random, stored as a hash, consumed exactly once within ten minutes."""

    def __init__(self, database: Database, ttl: timedelta = STATE_TTL) -> None:
        self.database = database
        self.ttl = ttl

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.database.system() as session:
            # Expired states are swept on issue, so the table stays the size of live installs.
            await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at <= now))
            session.add(SlackOAuthState(state_hash=_hash_state(state), expires_at=now + self.ttl))
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        async with self.database.system() as session:
            # One DELETE decides: two callbacks racing on the same state cannot both win.
            result = await session.execute(
                delete(SlackOAuthState).where(
                    SlackOAuthState.state_hash == _hash_state(state),
                    SlackOAuthState.expires_at > utcnow(),
                )
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]
