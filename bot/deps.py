"""BotDeps: who speaks, through which door, and the handles tools need (RunContext deps)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.replies import ApprovalCard, Chart, Table
from core.audit.service import Actor
from core.config import Settings
from core.db import Database
from core.exports.files import FileStore
from core.ports import PlatformRegistry

if TYPE_CHECKING:
    # Typing only: importing pydantic-ai costs seconds, and command turns never need it.
    from pydantic_ai.models import Model


def model_configured(settings: Settings) -> bool:
    """Whether settings name any model (then free text goes to the agent)."""
    return bool(settings.llm_model or settings.llm_budget_model)


@dataclass
class Extras:
    """Cards, tables and charts the tools produced during one agent turn."""

    card: ApprovalCard | None = None
    table: Table | None = None
    chart: Chart | None = None


@dataclass
class BotDeps:
    """Tenant and user come from here only: the model never names an org or a user."""

    database: Database
    registry: PlatformRegistry
    settings: Settings
    org_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    conversation_id: str
    workspace: str = ""
    model: Model | None = None
    extras: Extras = field(default_factory=Extras)
    # Models built from settings, shared across turns: each holds SDK clients and their
    # connection pools, which must not be rebuilt (and leaked) every message.
    model_cache: dict[tuple[str, str | None], Model] = field(default_factory=dict)
    # Where report exports go (local disk or S3), chosen by the composition root.
    file_store: FileStore | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One org-scoped transaction (RLS-bound on PostgreSQL), committed on success."""
        async with self.database.tenant(self.org_id) as session:
            yield session

    @property
    def actor(self) -> Actor:
        return Actor(org_id=self.org_id, user_id=self.user_id, channel=self.channel, source="bot")
