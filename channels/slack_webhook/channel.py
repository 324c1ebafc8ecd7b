"""Post a Reply to a Slack incoming-webhook URL: JSON {text, blocks}, Slack answers `ok`.

The URL is the credential (anyone holding it can post): stored encrypted on the destination,
never logged; only its non-secret prefix names the destination. Slack answers errors as a
plain-text word: 400 invalid_payload, 403 invalid_token / action_prohibited, 404 no_service /
channel_not_found, 410 channel_is_archived, 429 with Retry-After (about 1 message/s per URL).
"""

from __future__ import annotations

import hashlib
import re

import httpx
from limits import parse

from bot.replies import ApprovalCard, Reply, render_table_text
from channels.base import ChannelAddress, ChannelError, Failure, PostedMessage
from channels.outbound import OutboundLimiter, Window
from channels.text_chunks import split_text

PER_WEBHOOK = parse("1/second")
MAX_SECTION_TEXT = 3000
_PATH = re.compile(r"^T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+$")
_PERMANENT = {
    "invalid_token": Failure.TOKEN_REVOKED,
    "no_service": Failure.TOKEN_REVOKED,
    "no_team": Failure.TOKEN_REVOKED,
    "team_disabled": Failure.TOKEN_REVOKED,
    "channel_not_found": Failure.CHAT_NOT_FOUND,
    "channel_is_archived": Failure.CHAT_NOT_FOUND,
    "action_prohibited": Failure.BLOCKED,
}


class InvalidWebhookUrl(ValueError):
    """Not an incoming-webhook URL of the configured base (https://hooks.slack.com/services/)."""


def check_webhook_url(url: str, *, base: str) -> str:
    """The URL when it has the shape {base}T…/B…/secret; else InvalidWebhookUrl (no echo)."""
    url = url.strip()
    prefix = base if base.endswith("/") else base + "/"
    if not url.startswith(prefix) or not _PATH.match(url[len(prefix) :]):
        raise InvalidWebhookUrl(
            "A Slack incoming webhook URL looks like "
            "https://hooks.slack.com/services/T…/B…/…; create one under your Slack app's "
            "Incoming Webhooks page."
        )
    return url


def webhook_label(url: str) -> str:
    """A loggable name for the URL: its workspace and hook ids, not the secret part."""
    team, hook, _ = url.rstrip("/").rsplit("/", 3)[-3:]
    return f"{team}/{hook}"


def _blocks(reply: Reply) -> list[dict[str, object]]:
    text = reply.text
    if reply.table is not None:
        text = f"{text}\n\n```{render_table_text(reply.table)}```"
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in split_text(text, MAX_SECTION_TEXT)
    ]
    if reply.card is not None:
        card = reply.card
        lines = [f"*Approval {card.short_code}*: {card.summary}", *card.details]
        lines.append(f"Who may approve: {card.approvers}")
        if card.status == "pending":
            # A webhook message has no interactivity: decide in the app or by a chat command.
            lines.append(f"Decide with `approve {card.short_code}` or `reject {card.short_code}`")
        if card.status_line:
            lines.append(card.status_line)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}
        )
    return blocks


class SlackWebhookChannel:
    name = "slack_webhook"

    def __init__(
        self, http: httpx.AsyncClient, *, base: str, limiter: OutboundLimiter | None = None
    ) -> None:
        self.http = http
        self.base = base
        self.limiter = limiter

    @staticmethod
    def windows(url: str) -> list[Window]:
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        return [(PER_WEBHOOK, ("slack_webhook", key))]

    async def post(self, address: ChannelAddress, reply: Reply) -> list[PostedMessage]:
        try:
            url = check_webhook_url(address.conversation_id, base=self.base)
        except InvalidWebhookUrl as exc:
            # Never called: a URL off the configured base could point anywhere.
            raise ChannelError(str(exc), failure=Failure.REFUSED) from exc
        if self.limiter is not None:
            await self.limiter.acquire(self.windows(url))
        body = {"text": reply.text[:3000] or "AdPilot", "blocks": _blocks(reply)}
        try:
            response = await self.http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise ChannelError(
                f"Slack webhook unreachable: {type(exc).__name__}", failure=Failure.UNREACHABLE
            ) from exc
        if response.status_code == 200:
            # A webhook returns no message id: the URL's label and the time stand in for one.
            return [PostedMessage(webhook_label(url), shows_card=reply.card is not None)]
        raise _error(response)

    async def edit_card(self, address: ChannelAddress, message_id: str, card: ApprovalCard) -> None:
        """Webhook messages cannot be edited; the decision shows in the app and in chat."""


def _error(response: httpx.Response) -> ChannelError:
    word = response.text.strip()[:64]
    message = f"Slack webhook refused the message ({response.status_code} {word or 'error'})"
    if response.status_code == 429:
        try:
            wait = float(response.headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        return ChannelError(message, retry_after=wait)
    if word in _PERMANENT:
        return ChannelError(message, failure=_PERMANENT[word])
    if response.status_code in {404, 410}:
        return ChannelError(message, failure=Failure.CHAT_NOT_FOUND)
    if response.status_code >= 500:
        return ChannelError(message, failure=Failure.UNREACHABLE)
    return ChannelError(message, failure=Failure.REFUSED)
