"""SlackChannel: the ChatChannel for Slack, on slack_sdk's AsyncWebClient (aiohttp).

An address's conversation id is the channel id, or `channel:thread_ts` for a reply in a thread.
The message id is the message's `ts`, which is what `chat.update` needs to redraw a card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.replies import ApprovalCard, Reply
from channels.base import ChannelAddress, ChannelError, PostedMessage
from channels.slack.render import card_blocks, escape, fallback_text, reply_blocks

# Errors that mean the workspace or the channel is gone for us: the caller stops trying there.
_GONE = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
}


def split_address(address: ChannelAddress) -> tuple[str, str | None]:
    channel, _, thread_ts = address.conversation_id.partition(":")
    return channel, thread_ts or None


async def call(request: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """One Web API call with its failures as ChannelError (with Retry-After on a 429)."""
    try:
        return await request
    except SlackApiError as exc:
        code = str(exc.response.get("error", "")) if exc.response is not None else ""
        if exc.response is not None and exc.response.status_code == 429:
            wait = float(exc.response.headers.get("Retry-After", "1"))
            raise ChannelError("Slack asked us to slow down", retry_after=wait) from exc
        reason = "the workspace or channel is gone for us" if code in _GONE else "refused"
        raise ChannelError(f"Slack {reason}: {code}") from exc
    except SlackClientError as exc:
        raise ChannelError(f"Slack unreachable: {type(exc).__name__}") from exc


# A workspace's bot token in multi-workspace (OAuth) mode; None when it is not installed.
TokenSource = Callable[[str], Awaitable[str | None]]


class SlackChannel:
    """Posts as the workspace's bot: the client's own token, or the team's installed token."""

    name = "slack"

    def __init__(self, client: AsyncWebClient, tokens: TokenSource | None = None) -> None:
        self.client = client
        self.tokens = tokens

    async def _auth(self, address: ChannelAddress) -> dict[str, Any]:
        if self.tokens is None:
            return {}
        token = await self.tokens(address.workspace)
        if token is None:
            raise ChannelError("Slack refused: the app is not installed in that workspace")
        return {"token": token}

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        channel, thread_ts = split_address(address)
        auth = await self._auth(address)
        posted = await call(
            self.client.chat_postMessage(
                channel=channel,
                text=fallback_text(reply),
                blocks=reply_blocks(reply),
                thread_ts=thread_ts,
                **auth,
            )
        )
        if reply.chart is not None:
            await call(
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
        await call(
            self.client.chat_update(
                channel=channel,
                ts=message_id,
                text=f"Approval {card.short_code}: {escape(card.summary)}"[:300],
                blocks=blocks,
                **(await self._auth(address)),
            )
        )
