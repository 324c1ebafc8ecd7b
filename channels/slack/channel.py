"""SlackChannel: the ChatChannel for Slack, on slack_sdk's AsyncWebClient (aiohttp).

An address's conversation id is the channel id, or `channel:thread_ts` for a reply in a thread.
The message id is the message's `ts`, which is what `chat.update` needs to redraw a card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from limits import parse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, Failure, OutboundObserver, PostedMessage
from channels.outbound import OutboundLimiter, Window
from channels.slack.render import card_blocks, escape, fallback_text, reply_blocks

# Slack's error codes, by what the caller can do about them.
_FAILURES = {
    "invalid_auth": Failure.TOKEN_REVOKED,
    "not_authed": Failure.TOKEN_REVOKED,
    "account_inactive": Failure.TOKEN_REVOKED,
    "token_revoked": Failure.TOKEN_REVOKED,
    "token_expired": Failure.TOKEN_REVOKED,
    "channel_not_found": Failure.CHAT_NOT_FOUND,
    "is_archived": Failure.CHAT_NOT_FOUND,
    "not_in_channel": Failure.BLOCKED,
    "ratelimited": Failure.RATE_LIMITED,
}

# chat.postMessage: about 1 message/s per channel (short bursts tolerated). The other methods
# by their Web API tier, per workspace: chat.update Tier 3 (50+/min), file uploads Tier 4.
PER_CHANNEL = parse("2 per 2 seconds")
UPDATES_PER_TEAM = parse("50/minute")
UPLOADS_PER_TEAM = parse("20/minute")


def split_address(address: ChannelAddress) -> tuple[str, str | None]:
    channel, _, thread_ts = address.conversation_id.partition(":")
    return channel, thread_ts or None


async def call(
    request: Awaitable[AsyncSlackResponse], observe: OutboundObserver | None = None
) -> AsyncSlackResponse:
    """One Web API call with its failures as typed ChannelErrors (Retry-After on a 429)."""
    try:
        response = await request
    except SlackApiError as exc:
        code = str(exc.response.get("error", "")) if exc.response is not None else ""
        if exc.response is not None and exc.response.status_code == 429:
            wait = float(exc.response.headers.get("Retry-After", "1"))
            error = ChannelError("Slack asked us to slow down", retry_after=wait)
        else:
            error = ChannelError(
                f"Slack refused: {code}", failure=_FAILURES.get(code, Failure.REFUSED)
            )
        if observe is not None:
            observe(error.failure.value)
        raise error from exc
    except SlackClientError as exc:
        if observe is not None:
            observe(Failure.UNREACHABLE.value)
        raise ChannelError(
            f"Slack unreachable: {type(exc).__name__}", failure=Failure.UNREACHABLE
        ) from exc
    if observe is not None:
        observe("ok")
    return response


# A workspace's bot token in multi-workspace (OAuth) mode; None when it is not installed.
TokenSource = Callable[[str], Awaitable[str | None]]


class SlackChannel:
    """Posts as the workspace's bot: the client's own token, or the team's installed token."""

    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        tokens: TokenSource | None = None,
        *,
        limiter: OutboundLimiter | None = None,
        observe: OutboundObserver | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.limiter = limiter
        self.observe = observe

    async def _auth(self, address: ChannelAddress) -> dict[str, Any]:
        if self.tokens is None:
            return {}
        token = await self.tokens(address.workspace)
        if token is None:
            raise ChannelError(
                "Slack refused: the app is not installed in that workspace",
                failure=Failure.TOKEN_REVOKED,
            )
        return {"token": token}

    async def _pace(self, *windows: Window) -> None:
        if self.limiter is not None:
            await self.limiter.acquire(windows)

    async def _call(self, request: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
        return await call(request, self.observe)

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        channel, thread_ts = split_address(address)
        auth = await self._auth(address)
        await self._pace((PER_CHANNEL, ("slack", address.workspace, channel)))
        posted = await self._call(
            self.client.chat_postMessage(
                channel=channel,
                text=fallback_text(reply),
                blocks=reply_blocks(reply),
                thread_ts=thread_ts,
                **auth,
            )
        )
        if reply.chart is not None:
            await self._pace((UPLOADS_PER_TEAM, ("slack", address.workspace, "uploads")))
            await self._call(
                self.client.files_upload_v2(
                    channel=channel,
                    file=reply.chart.png,
                    filename="chart.png",
                    title=escape(reply.chart.alt_text)[:250],
                    alt_txt=reply.chart.alt_text[:1000],
                    thread_ts=thread_ts,
                    **auth,
                )
            )
        return [PostedMessage(str(posted["ts"]), shows_card=reply.card is not None)]

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        channel, _ = split_address(address)
        blocks: list[dict[str, Any]] = card_blocks(card)
        auth = await self._auth(address)
        await self._pace((UPDATES_PER_TEAM, ("slack", address.workspace, "updates")))
        await self._call(
            self.client.chat_update(
                channel=channel,
                ts=message_id,
                text=f"Approval {card.short_code}: {escape(card.summary)}"[:300],
                blocks=blocks,
                **auth,
            )
        )
