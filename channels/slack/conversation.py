"""What happens after Slack's ack: who is speaking, the bot's reply, and where it goes.

Runs in the web process (InlineTurns) or in `adpilot worker` (QueuedTurns): it needs only the
settings, the database and the bot, never the request. A slash command is answered through its
response_url, except a card, which goes to the channel as a real message so every copy can be
redrawn; mentions and DMs are answered in their thread.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.engine import Bot as ChatBot
from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError
from channels.card_updates import deliver
from channels.outbound import OutboundLimiter
from channels.slack.channel import SlackChannel, TokenSource
from channels.slack.installations import DatabaseInstallationStore
from channels.slack.render import fallback_text, reply_blocks
from channels.turns import ChatTurn
from core.config import Settings
from core.db import Database
from core.security.crypto import get_cipher
from core.users.identity import link_by_verified_email

log = logging.getLogger(__name__)
CHANNEL = "slack"
COMMAND, MESSAGE = "command", "message"
RESPONSE_URL_TIMEOUT_SECONDS = 10


class SlackConversation:
    def __init__(
        self,
        *,
        database: Database,
        chat_bot: ChatBot,
        channel: SlackChannel,
        installations: DatabaseInstallationStore | None,
    ) -> None:
        self.database = database
        self.chat_bot = chat_bot
        self.channel = channel
        self.installations = installations

    async def run(self, turn: ChatTurn) -> None:
        fields = turn.fields
        if turn.kind == COMMAND:
            await self._answer_command(fields)
        elif turn.kind == MESSAGE:
            await self._answer_message(fields)
        else:
            log.warning("unknown slack turn kind %s ignored", turn.kind[:32])

    async def _answer_command(self, fields: dict[str, str]) -> None:
        team, channel_id = fields["team"], fields["channel_id"]
        reply, org_id = await self._turn(
            team=team, user=fields["user"], conversation=channel_id, text=fields["text"]
        )
        if reply.card is not None and org_id is not None:
            await self._deliver(ChannelAddress(CHANNEL, team, channel_id), reply, org_id)
            return
        webhook = AsyncWebhookClient(fields["response_url"], timeout=RESPONSE_URL_TIMEOUT_SECONDS)
        try:
            await webhook.send(text=fallback_text(reply), blocks=reply_blocks(reply))
        except SlackClientError as exc:
            raise ChannelError(f"Slack response_url unreachable: {type(exc).__name__}") from exc

    async def _answer_message(self, fields: dict[str, str]) -> None:
        team, channel_id, thread = fields["team"], fields["channel_id"], fields.get("thread", "")
        reply, org_id = await self._turn(
            team=team, user=fields["user"], conversation=channel_id, text=fields["text"]
        )
        address = ChannelAddress(CHANNEL, team, f"{channel_id}:{thread}" if thread else channel_id)
        await self._deliver(address, reply, org_id)

    async def _turn(
        self, *, team: str, user: str, conversation: str, text: str
    ) -> tuple[Reply, uuid.UUID | None]:
        context = await self.chat_bot.identify(
            channel=CHANNEL, workspace=team, external_user_id=user, conversation_id=conversation
        )
        if context is None and await self._link_by_email(team, user):
            context = await self.chat_bot.identify(
                channel=CHANNEL, workspace=team, external_user_id=user, conversation_id=conversation
            )
        if context is None:
            reply = await self.chat_bot.handle_unlinked(
                channel=CHANNEL, workspace=team, external_user_id=user, text=text
            )
            return reply, None
        return await self.chat_bot.handle_text(context, text), context.org_id

    async def _users_info(self, team: str, user: str) -> dict[str, Any]:
        auth: dict[str, Any] = {}
        if self.installations is not None:
            token = await self.installations.bot_token(team)
            if token is None:
                return {}
            auth["token"] = token
        response = await self.channel.client.users_info(user=user, **auth)
        found = response.get("user")
        return found if isinstance(found, dict) else {}

    async def _link_by_email(self, team: str, user: str) -> bool:
        """An unlinked person whose Slack email is confirmed, in a workspace their org trusts."""
        try:
            profile_user = await self._users_info(team, user)
        except (SlackApiError, SlackClientError) as exc:
            # No users:read.email scope, or Slack down: the link code still works.
            log.info("slack email linking skipped: %s", type(exc).__name__)
            return False
        profile = profile_user.get("profile") or {}
        email = profile.get("email")
        if (
            not isinstance(email, str)
            or profile_user.get("is_email_confirmed") is not True
            or profile_user.get("deleted")
            or profile_user.get("is_bot")
            or str(profile_user.get("team_id") or team) != team
        ):
            return False
        async with self.database.system() as session:
            speaker = await link_by_verified_email(
                session=session,
                channel=CHANNEL,
                workspace=team,
                external_user_id=user,
                email=email,
                display_name=profile.get("display_name") or None,
            )
        return speaker is not None

    async def _deliver(
        self, address: ChannelAddress, reply: Reply, org_id: uuid.UUID | None
    ) -> None:
        await deliver(
            database=self.database,
            channel=self.channel,
            org_id=org_id,
            address=address,
            reply=reply,
        )


def build_channel(
    settings: Settings, database: Database, observe: Any = None
) -> tuple[SlackChannel, DatabaseInstallationStore | None]:
    """The outbound Slack channel for the configured mode (one bot token, or installs)."""
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
    )
    installations: DatabaseInstallationStore | None = None
    tokens: TokenSource | None = None
    if settings.slack_bot_token is None:
        installations = DatabaseInstallationStore(database, get_cipher(settings))
        tokens = installations.bot_token
    channel = SlackChannel(
        client, tokens, limiter=OutboundLimiter(settings.redis_url), observe=observe
    )
    return channel, installations


def build_conversation(
    settings: Settings, database: Database, chat_bot: ChatBot, observe: Any = None
) -> SlackConversation:
    channel, installations = build_channel(settings, database, observe)
    return SlackConversation(
        database=database, chat_bot=chat_bot, channel=channel, installations=installations
    )
