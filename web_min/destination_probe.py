"""A destination's "send test message": straight through the channel the outbox delivers with.

Not an outbox row, on purpose: a test must answer now, and the outbox would make it lie — quiet
hours would hold it, a digest could swallow it, and a failure would fall back to the org's next
destination and report success from somewhere else. What is the same as delivery: the channel
classes built from the same settings, the address (the webhook URL decrypted only to post), and
the outbound rate limiters. See docs/decisions.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

from bot.replies import Reply
from channels.base import ChannelAddress, ChannelError, ChatChannel
from core.base import utcnow
from core.config import Settings
from core.errors import CoreError
from core.notify.models import Destination
from core.security.crypto import decrypt_optional
from web_min.destination_forms import DESTINATION_KINDS

log = logging.getLogger(__name__)

NOT_SERVED = {
    "slack": "ADPILOT_SLACK_SIGNING_SECRET with ADPILOT_SLACK_BOT_TOKEN (or the OAuth client)",
    "telegram": "ADPILOT_TELEGRAM_BOT_TOKEN and ADPILOT_TELEGRAM_WEBHOOK_SECRET",
    "whatsapp": "the ADPILOT_WHATSAPP_* settings",
    "signal": "ADPILOT_SIGNAL_API_URL and ADPILOT_SIGNAL_NUMBER",
    "email": "ADPILOT_RESEND_API_KEY and ADPILOT_EMAIL_FROM",
}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    text: str


def destination_address(destination: Destination, settings: Settings) -> ChannelAddress:
    """Where the worker would post: a webhook's URL is its decrypted secret (as in delivery)."""
    conversation = decrypt_optional(destination.secret, settings=settings)
    return ChannelAddress(
        destination.channel, destination.workspace, conversation or destination.conversation_id
    )


def _label(destination: Destination) -> str:
    kind = DESTINATION_KINDS.get(destination.channel, destination.channel)
    return f"{kind} {destination.name or destination.conversation_id}"


async def send_test(
    *,
    destination: Destination,
    settings: Settings,
    served: Mapping[str, ChatChannel],
    sender: str,
) -> ProbeResult:
    """Post one test message to the destination; what happened, in a sentence."""
    from worker.chat_channels import notification_channels

    async with AsyncExitStack() as stack:
        channels = {**served, **notification_channels(settings, stack)}
        channel = channels.get(destination.channel)
        if channel is None:
            needs = NOT_SERVED.get(destination.channel, "its settings")
            return ProbeResult(
                False,
                f"Not sent: {DESTINATION_KINDS.get(destination.channel, destination.channel)} "
                f"is not configured on this server (it needs {needs}).",
            )
        reply = Reply(
            text=(
                f"AdPilot test message, sent by {sender} at {utcnow():%H:%M:%S} UTC: "
                "alerts for this destination will arrive here."
            )
        )
        try:
            await channel.post(destination_address(destination, settings), reply)
        except ChannelError as exc:
            # The channel's message names the platform's reason, never the address or secret.
            log.info("destination test failed: %s (%s)", destination.id, exc.failure.value)
            return ProbeResult(False, f"Not sent to {_label(destination)}: {exc}")
        except CoreError as exc:  # a stored URL no configured key can decrypt
            return ProbeResult(False, f"Not sent to {_label(destination)}: {exc.message}")
        except Exception as exc:
            # A channel that failed outside its error mapping: the person still gets an answer.
            log.exception("destination test crashed: %s", destination.id)
            return ProbeResult(
                False,
                f"Not sent to {_label(destination)}: the channel failed unexpectedly "
                f"({type(exc).__name__}); the server log has the details.",
            )
    return ProbeResult(True, f"Test message sent to {_label(destination)}.")
