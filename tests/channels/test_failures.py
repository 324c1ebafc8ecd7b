"""Every channel's refusals carry the same Failure kinds, so one outbox can act on any of them."""

from __future__ import annotations

import httpx
import pytest

from channels.base import ChannelError, Failure
from channels.signal_messenger.errors import error_for
from channels.whatsapp.errors import from_response


def graph(status: int, code: int) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": code,
                "error_data": {"details": "..."},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }
        },
    )


@pytest.mark.parametrize(
    ("response", "failure", "permanent"),
    [
        (graph(401, 190), Failure.TOKEN_REVOKED, True),
        (graph(400, 130429), Failure.RATE_LIMITED, False),
        (graph(400, 131047), Failure.OUTSIDE_WINDOW, True),
        (graph(400, 131026), Failure.CHAT_NOT_FOUND, True),
        (graph(400, 132001), Failure.REFUSED, False),
        (graph(500, 1), Failure.UNREACHABLE, False),
    ],
)
def test_graph_refusals_name_what_the_caller_can_do(
    response: httpx.Response, failure: Failure, permanent: bool
) -> None:
    error = from_response(response)
    assert error.failure is failure
    assert error.permanent is permanent


@pytest.mark.parametrize(
    ("response", "failure"),
    [
        (
            httpx.Response(
                400, json={"error": "Failed to send message: +49151 is not registered."}
            ),
            Failure.CHAT_NOT_FOUND,
        ),
        (
            httpx.Response(429, json={"error": "rate limit", "challenge_tokens": ["t"]}),
            Failure.RATE_LIMITED,
        ),
        (httpx.Response(502, text="Bad Gateway"), Failure.UNREACHABLE),
        (httpx.Response(400, json={"error": "something else"}), Failure.REFUSED),
    ],
)
def test_signal_refusals_name_what_the_caller_can_do(
    response: httpx.Response, failure: Failure
) -> None:
    assert error_for(response).failure is failure


def test_a_plain_channel_error_is_a_refusal_unless_it_carries_a_wait() -> None:
    assert ChannelError("no").failure is Failure.REFUSED
    assert ChannelError("later", retry_after=3).failure is Failure.RATE_LIMITED
