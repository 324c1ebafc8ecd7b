"""Shared by the sign-in routes: the authentication rate limits and their page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from limits import parse

from web_min.pages import render
from web_min.rate_limit import TooManyRequests

# The seed's authentication limit, per client IP and per account.
AUTH_LIMIT = parse("5/minute")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check_auth_limits(request: Request, account: str) -> None:
    """Count one attempt against the IP's and the account's limit (TooManyRequests when over).

    Every attempt counts, not only failures: a correct guess must not reset the count.
    """
    limiter = request.app.state.limiter
    await limiter.check(AUTH_LIMIT, "web-auth-ip", client_ip(request))
    await limiter.check(AUTH_LIMIT, "web-auth-account", account.strip().lower())


def too_many_page(
    request: Request, template: str, exc: TooManyRequests, **context: object
) -> Response:
    """The form again, with a 429, Retry-After and a plain sentence instead of an error dump."""
    response = render(
        request,
        template,
        {
            **context,
            "error": f"Too many attempts. Wait {exc.retry_after} seconds and try again.",
        },
        status_code=429,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response
