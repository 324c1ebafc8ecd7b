"""POST /slack/events: slack-bolt's AsyncApp mounted in FastAPI.

Two modes: one workspace with a bot token (ADPILOT_SLACK_BOT_TOKEN), or install to many
workspaces through OAuth v2 (ADPILOT_SLACK_CLIENT_ID/SECRET), where bolt's AsyncOAuthFlow
serves GET /slack/install and /slack/oauth_redirect and each team's token comes from our
database (channels/slack/installations.py). Commands, events and interactivity arrive at one
URL; bolt checks the signature and the 5-minute timestamp window before anything is parsed.
The slash command is acked at once and answered through its response_url (a card is posted to
the channel instead, so every viewer's copy can be redrawn); mentions and DMs are answered in a
thread; buttons go to core's decide.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.engine import Bot as ChatBot
from channels.base import ChannelAddress, ChatChannel
from channels.card_updates import decide_on_card, redraw_if_decided
from channels.slack import SCOPES
from channels.slack.conversation import COMMAND, MESSAGE, build_conversation
from channels.slack.installations import DatabaseOAuthStateStore
from channels.slack.render import APPROVE_ACTION, REJECT_ACTION, fallback_text
from channels.turns import ChatTurn, InlineTurns, QueuedTurns, queued_turns
from core.config import Settings
from core.db import Database
from core.events.service import first_delivery
from web_min.observability import AppMetrics
from web_min.rate_limit import WEBHOOK_PER_SOURCE, RateLimiter, TooManyRequests

log = logging.getLogger(__name__)
CHANNEL = "slack"


class _WithholdOAuthCode(logging.Filter):
    """Bolt logs a failed code exchange with the code in it; the line keeps only the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "with code:" in message:
            record.msg = "oauth.v2.access failed: %s"
            record.args = (message.rpartition("error: ")[2][:200],)
        return True


_QUIET_OAUTH_LOG = logging.getLogger("channels.slack.oauth")
_QUIET_OAUTH_LOG.addFilter(_WithholdOAuthCode())
# Bolt logs a failed callback's query string (the code) at DEBUG.
_QUIET_OAUTH_LOG.setLevel(logging.INFO)


class InstallFlow(AsyncOAuthFlow):
    """Bolt's flow with our own install page: no third-party image, no inline style."""

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        link = html.escape(url)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Add AdPilot to Slack</title></head><body><main>"
            "<h1>Add AdPilot to Slack</h1>"
            "<p>AdPilot answers <code>/adpilot</code>, mentions and direct messages, and posts "
            "approval cards. People link their AdPilot account once, from Slack.</p>"
            f'<p><a href="{link}">Add to Slack</a></p>'
            "</main></body></html>"
        )


_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
_SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")


class SlackWebhook:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        chat_bot: ChatBot,
        limiter: RateLimiter,
        metrics: AppMetrics,
        channels: Mapping[str, ChatChannel],
    ) -> None:
        assert settings.slack_signing_secret is not None
        self.database = database
        self._chat_bot = chat_bot
        self.limiter = limiter
        self.metrics = metrics
        self.channels = channels
        signing_secret = settings.slack_signing_secret.get_secret_value()
        self.conversation = build_conversation(
            settings, database, chat_bot, observe=metrics.outbound_observer(CHANNEL)
        )
        self.channel = self.conversation.channel
        self.installations = self.conversation.installations
        client = self.channel.client
        if self.installations is None:
            self.bolt = AsyncApp(
                signing_secret=signing_secret,
                client=client,
                raise_error_for_unhandled_request=False,
            )
        else:
            assert settings.slack_client_id is not None
            assert settings.slack_client_secret is not None
            oauth = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                scopes=list(SCOPES),
                user_scopes=[],
                redirect_uri=settings.slack_redirect_uri,
                installation_store=self.installations,
                state_store=DatabaseOAuthStateStore(database),
                logger=_QUIET_OAUTH_LOG,
            )
            self.bolt = AsyncApp(
                signing_secret=signing_secret,
                client=client,
                installation_store=self.installations,
                oauth_flow=InstallFlow(client=client, settings=oauth, logger=_QUIET_OAUTH_LOG),
                raise_error_for_unhandled_request=False,
            )
            # app_uninstalled / tokens_revoked: forget the workspace's token at once.
            self.bolt.enable_token_revocation_listeners()
        self.turns: InlineTurns | QueuedTurns = queued_turns(settings) or InlineTurns(
            self.conversation.run
        )
        self.bolt.middleware(self._deduplicate)
        self.bolt.command("/adpilot")(self._on_command)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("message")(self._on_direct_message)
        self.bolt.action(APPROVE_ACTION)(self._on_button)
        self.bolt.action(REJECT_ACTION)(self._on_button)
        self.handler = AsyncSlackRequestHandler(self.bolt)

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/slack/events", self.receive, methods=["POST"])
        if self.installations is not None:
            router.add_api_route("/slack/install", self.install, methods=["GET"])
            router.add_api_route("/slack/oauth_redirect", self.install, methods=["GET"])
        return router

    async def install(self, request: Request) -> Response:
        """Bolt's install page and OAuth callback: state cookie, single-use state, code swap."""
        response: Response = await self.handler.handle(request)
        return response

    async def receive(self, request: Request) -> Response:
        response: Response = await self.handler.handle(request)
        if response.status_code == 404:
            # Verified (a bad signature is a 401 before this) but nothing we handle: an
            # interaction type we do not use. Slack only needs to hear it arrived.
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="ignored").inc()
            return Response(status_code=200)
        outcome = {401: "forged", 400: "malformed"}.get(response.status_code, "accepted")
        self.metrics.webhook_events.labels(channel=CHANNEL, outcome=outcome).inc()
        return response

    async def _deduplicate(
        self, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Slack retries events it thinks we missed: each event id is handled once."""
        event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
        if isinstance(event_id, str):
            async with self.database.system() as session:
                first = await first_delivery(session=session, channel=CHANNEL, event_id=event_id)
            if not first:
                self.metrics.webhook_events.labels(channel=CHANNEL, outcome="duplicate").inc()
                return BoltResponse(status=200, body="")
        await next()
        return None

    async def _allowed(self, team: str, user: str) -> bool:
        try:
            await self.limiter.check(WEBHOOK_PER_SOURCE, CHANNEL, team, user)
        except TooManyRequests:
            self.metrics.webhook_events.labels(channel=CHANNEL, outcome="rate_limited").inc()
            return False
        return True

    @property
    def chat_bot(self) -> ChatBot:
        return self._chat_bot

    @chat_bot.setter
    def chat_bot(self, chat_bot: ChatBot) -> None:
        self._chat_bot = chat_bot
        self.conversation.chat_bot = chat_bot

    async def aclose(self) -> None:
        """Shutdown: finish the turns this process runs, close the queue's connections."""
        await self.turns.drain()
        if isinstance(self.turns, QueuedTurns):
            await self.turns.close()

    async def _on_command(
        self, ack: Callable[..., Awaitable[None]], command: dict[str, Any]
    ) -> None:
        team, user = str(command.get("team_id", "")), str(command.get("user_id", ""))
        if not await self._allowed(team, user):
            await ack(text="Too many messages at once; try again in a minute.")
            return
        turn = ChatTurn(
            channel=CHANNEL,
            kind=COMMAND,
            key=str(command.get("trigger_id") or uuid.uuid4()),
            fields={
                "team": team,
                "user": user,
                "channel_id": str(command.get("channel_id", "")),
                "text": str(command.get("text", "")),
                "response_url": str(command.get("response_url", "")),
            },
        )
        try:
            # Queued before the ack, so an ack always means the command will be answered.
            await self.turns.submit(turn)
        except Exception:  # Redis down: say so now rather than acking into silence
            log.exception("slack command could not be queued")
            await ack(text="AdPilot cannot take commands right now; try again in a minute.")
            return
        await ack()

    async def _answer_in_thread(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, joins, other bots and our own messages
        team = str(body.get("team_id", ""))
        user, channel_id = str(event.get("user", "")), str(event.get("channel", ""))
        if not user or not await self._allowed(team, user):
            return
        await self.turns.submit(
            ChatTurn(
                channel=CHANNEL,
                kind=MESSAGE,
                key=str(body.get("event_id") or uuid.uuid4()),
                fields={
                    "team": team,
                    "user": user,
                    "channel_id": channel_id,
                    "text": _MENTION.sub("", str(event.get("text", ""))),
                    "thread": str(event.get("thread_ts") or event.get("ts") or ""),
                },
            )
        )

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        await self._answer_in_thread(event, body)

    async def _on_direct_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel_type") == "im":
            await self._answer_in_thread(event, body)

    @staticmethod
    async def _whisper(respond: Any, text: str) -> None:
        """Only the person who tapped sees it; the card itself stays as it is."""
        await respond(text=text, replace_original=False, response_type="ephemeral")

    async def _on_button(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Any
    ) -> None:
        await ack()
        actions = body.get("actions") or [{}]
        action = actions[0]
        code = str(action.get("value", ""))
        approve = action.get("action_id") == APPROVE_ACTION
        team = str((body.get("team") or {}).get("id", ""))
        user = str((body.get("user") or {}).get("id", ""))
        container = body.get("container") or {}
        channel_id = str(container.get("channel_id", ""))
        message_ts = str(container.get("message_ts", ""))
        if not (_SLACK_ID.fullmatch(channel_id) and message_ts and await self._allowed(team, user)):
            return
        context = await self.chat_bot.identify(
            channel=CHANNEL, workspace=team, external_user_id=user, conversation_id=channel_id
        )
        if context is None:
            await respond(
                text="Link your AdPilot account first: send `link CODE`.", replace_original=False
            )
            return
        reply = await decide_on_card(
            database=self.database,
            chat_bot=self.chat_bot,
            context=context,
            address=ChannelAddress(CHANNEL, team, channel_id),
            message_id=message_ts,
            code=code,
            approve=approve,
            threaded=True,
        )
        if reply.is_error or reply.card is None:
            await self._whisper(respond, fallback_text(reply))
            return
        await redraw_if_decided(
            database=self.database, channels=self.channels, org_id=context.org_id, reply=reply
        )
