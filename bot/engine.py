"""The bot's public entry point: a message or a button tap in, a channel-neutral Reply out.

Commands are parsed first (deterministic, free, no LLM); free text goes to the agent when a
model is configured. Every core error is mapped to a friendly line here, in one place.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot import commands, dispatch, text_input, turn_limits
from bot import errors as bot_errors
from bot.deps import BotDeps, model_configured
from bot.replies import Reply
from core.action_limits import ActionKind, ActionLimiter
from core.config import Settings
from core.db import Database
from core.errors import CoreError
from core.exports.files import FileStore
from core.ports import PlatformRegistry
from core.users import identity

if TYPE_CHECKING:
    from pydantic_ai.models import Model

log = logging.getLogger(__name__)

# Approval codes are a few characters; a display name is shown in a line of text.
_MAX_CODE_CHARS = 40
_MAX_NAME_CHARS = 200

NO_MODEL_HINT = (
    "I only understand commands right now (no AI model is configured). "
    'Type `help` to see them, e.g. `report 7d` or `pause "Summer Sale"`.'
)


LINK_HELP = (
    "Hi! This chat is not linked to an AdPilot user yet, so I can't show any data. "
    "Ask an admin for a one-time link code (web settings page, or `adpilot link-code`), "
    "then send `link CODE` here."
)


@dataclass(frozen=True)
class TurnContext:
    """Who speaks, in which org, channel and conversation: from identity, never the model."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    workspace: str
    conversation_id: str


class Bot:
    """One per process; cheap per turn. Holds no conversation state in memory."""

    def __init__(
        self,
        *,
        database: Database,
        registry: PlatformRegistry,
        settings: Settings,
        model: Model | None = None,
        file_store: FileStore | None = None,
        limiter: ActionLimiter | None = None,
    ) -> None:
        self.database = database
        # The people-facing roots (web app, worker) pass one; without it nothing is limited
        # (the terminal's own operator, benchmarks).
        self.limiter = limiter
        self.file_store = file_store
        self.registry = registry
        self.settings = settings
        self._model = model
        self._model_cache: dict[tuple[str, str | None], Model] = {}

    def deps(self, ctx: TurnContext) -> BotDeps:
        return BotDeps(
            database=self.database,
            registry=self.registry,
            settings=self.settings,
            org_id=ctx.org_id,
            user_id=ctx.user_id,
            channel=ctx.channel,
            conversation_id=ctx.conversation_id,
            workspace=ctx.workspace,
            model=self._model,
            model_cache=self._model_cache,
            file_store=self.file_store,
        )

    async def handle_text(self, ctx: TurnContext, text: str) -> Reply:
        """Answer one message: a command if it parses as one, else an agent turn."""
        return await self._guard(self._text_turn(ctx, text))

    async def _text_turn(self, ctx: TurnContext, text: str) -> Reply:
        # Every channel's text passes here, so this is the one place it is cleaned and capped.
        command = commands.parse(text_input.message_text(text))
        deps = self.deps(ctx)
        if isinstance(command, commands.FreeText):
            return await self._agent_turn(deps, command.text)
        kind = turn_limits.kind_of(command)
        if kind is not None:
            await self._count(kind, deps)
        return await dispatch.run(command, deps)

    async def _count(self, kind: ActionKind, deps: BotDeps) -> None:
        """Count one action against the speaker's and the org's limits (ActionLimited over)."""
        if self.limiter is not None:
            await self.limiter.check(kind, org_id=deps.org_id, user_id=deps.user_id)

    async def handle_decision(self, ctx: TurnContext, action_ref: str, approve: bool) -> Reply:
        """A button tap (or `approve CODE`): decided by core, never by the model."""
        deps = self.deps(ctx)
        code = text_input.clean(action_ref)[:_MAX_CODE_CHARS]
        return await self._guard(self._decision_turn(commands.Decide(code, approve), deps))

    async def _decision_turn(self, decide: commands.Decide, deps: BotDeps) -> Reply:
        await self._count(ActionKind.CAMPAIGN_CHANGE, deps)
        return await dispatch.run(decide, deps)

    async def identify(
        self, *, channel: str, workspace: str, external_user_id: str, conversation_id: str
    ) -> TurnContext | None:
        """The linked speaker of a chat message, or None for a stranger."""
        channel, workspace = text_input.clean(channel), text_input.clean(workspace)
        external_user_id = text_input.clean(external_user_id)
        conversation_id = text_input.clean(conversation_id)
        async with self.database.system() as session:
            speaker = await identity.resolve(
                session=session,
                channel=channel,
                workspace=workspace,
                external_user_id=external_user_id,
            )
        if speaker is None:
            return None
        return TurnContext(
            org_id=speaker.org_id,
            user_id=speaker.user_id,
            channel=channel,
            workspace=workspace,
            conversation_id=conversation_id,
        )

    async def handle_unlinked(
        self,
        *,
        channel: str,
        workspace: str,
        external_user_id: str,
        text: str,
        display_name: str | None = None,
    ) -> Reply:
        """A stranger gets linking help and no data; `link CODE` links their chat account."""
        try:
            command = commands.parse(text_input.message_text(text))
        except CoreError as exc:
            return bot_errors.to_reply(exc)
        if not isinstance(command, commands.Link):
            return Reply(text=LINK_HELP)
        name = text_input.clean(display_name)[:_MAX_NAME_CHARS] if display_name else None
        try:
            async with self.database.system() as session:
                await identity.redeem_link_code(
                    session=session,
                    code=command.code,
                    channel=text_input.clean(channel),
                    workspace=text_input.clean(workspace),
                    external_user_id=text_input.clean(external_user_id),
                    display_name=name,
                )
        except CoreError as exc:
            return bot_errors.to_reply(exc)
        return Reply(text="Linked! This chat now acts as your AdPilot user. Type `help` to start.")

    async def _agent_turn(self, deps: BotDeps, text: str) -> Reply:
        if deps.model is None and not model_configured(deps.settings):
            return Reply(text=NO_MODEL_HINT)
        # Imported only when a model can answer: pydantic-ai and the provider SDKs take
        # seconds of CPU to import, which every command-only `adpilot chat -c` used to pay.
        from bot import agent

        model = await agent.model_for_org(deps)
        if model is None:
            return Reply(text=NO_MODEL_HINT)
        await self._count(ActionKind.AI, deps)
        return await agent.run_turn(deps, text, model=model)

    async def _guard(self, work: Awaitable[Reply]) -> Reply:
        """Run a turn; CoreError or bad input -> friendly line, anything else -> generic line."""
        try:
            reply = await work
        except CoreError as exc:
            return bot_errors.to_reply(exc)
        except ValidationError as exc:
            return bot_errors.invalid_input_reply(exc)
        except ArithmeticError:
            # decimal.InvalidOperation and friends: a number beyond what money arithmetic holds.
            log.info("bot turn refused an unusable number", exc_info=True)
            return bot_errors.NOT_A_NUMBER
        except Exception:
            log.exception("bot turn failed")
            return bot_errors.UNEXPECTED
        return reply
