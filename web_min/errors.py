"""The one place the HTTP edge maps errors to statuses: details for the caller, no internals."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from core.action_limits import ActionLimited
from core.base import utcnow
from core.errors import (
    AlreadyDecided,
    AmbiguousMatch,
    Conflict,
    CoreError,
    Expired,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    PlatformError,
    QuotaExceeded,
    StaleApproval,
    TooManyOpen,
    ValidationFailed,
)
from core.exports.files import StorageError
from web_min.auth.deps import PageError, Redirect, load_session
from web_min.middleware import wants_html
from web_min.pages import render, templates
from web_min.rate_limit import TooManyRequests

log = logging.getLogger(__name__)

# What a browser sees instead of a JSON error: a title and one plain sentence, no internals.
PAGE_TEXT: dict[int, tuple[str, str]] = {
    400: ("That request did not work", "Something in the request was not valid."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Page not found", "There is nothing here. The link may be old or mistyped."),
    405: ("Page not found", "There is nothing here. The link may be old or mistyped."),
    429: ("Slow down a little", "There were too many attempts in a short time."),
    500: ("Something went wrong", "Something went wrong on our side. Please try again."),
}

# Most specific first: the first class an error is an instance of decides its status.
STATUS_FOR: tuple[tuple[type[CoreError], int, str], ...] = (
    (ValidationFailed, 400, "validation_failed"),
    (AmbiguousMatch, 400, "ambiguous"),
    (PermissionDenied, 403, "permission_denied"),
    (NotFound, 404, "not_found"),
    (StaleApproval, 409, "stale"),
    (AlreadyDecided, 409, "already_decided"),
    (IllegalTransition, 409, "illegal_transition"),
    (Expired, 410, "expired"),
    (Conflict, 409, "conflict"),
    (QuotaExceeded, 429, "quota_exceeded"),
    (TooManyOpen, 429, "too_many_open"),
    (ActionLimited, 429, "rate_limited"),
    (PlatformError, 502, "platform_error"),
    (StorageError, 502, "storage_error"),
)


def _request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def error_body(request: Request, error: str, detail: object) -> dict[str, object]:
    return {"error": error, "detail": detail, "request_id": _request_id(request)}


async def core_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CoreError)
    for kind, status, name in STATUS_FOR:
        if isinstance(exc, kind):
            response = JSONResponse(error_body(request, name, exc.message), status_code=status)
            wait = _retry_after(exc)
            if wait is not None:
                response.headers["Retry-After"] = str(wait)
            return response
    raise exc  # a CoreError without a status of its own: the edge's 500


def _retry_after(exc: CoreError) -> int | None:
    """Whole seconds until a retry can succeed, when the error knows it."""
    if isinstance(exc, PlatformError) and exc.retry_after is not None:
        return max(1, math.ceil(exc.retry_after))
    if isinstance(exc, ActionLimited | TooManyOpen):
        return exc.retry_after
    if isinstance(exc, QuotaExceeded):
        return max(1, math.ceil((exc.resets_at - utcnow()).total_seconds()))
    return None


async def invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _browser(request):  # e.g. a form field past its length limit
        await _with_signed_in_nav(request)
        return error_page(request, 400)
    details = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", "")} for error in exc.errors()
    ]
    return JSONResponse(error_body(request, "bad_request", details), status_code=400)


def _browser(request: Request) -> bool:
    return wants_html(request.url.path, request.headers.get("accept", ""))


def error_page(
    request: Request,
    status_code: int,
    *,
    title: str | None = None,
    message: str | None = None,
    headers: dict[str, str] | None = None,
    retry_after: int | None = None,
) -> Response:
    default_title, default_message = PAGE_TEXT.get(status_code, PAGE_TEXT[500])
    response = render(
        request,
        "error.html",
        {
            "title": title or default_title,
            "message": message or default_message,
            "retry_after": retry_after,
            "request_id": _request_id(request),
        },
        status_code=status_code,
    )
    for header, value in (headers or {}).items():
        response.headers[header] = value
    return response


def server_error_page() -> bytes:
    """The 500 page, rendered once: the middleware serves it when a route blew up."""
    title, message = PAGE_TEXT[500]
    page = templates.get_template("error.html").render(
        user=None, csrf_token="", flashes=[], title=title, message=message, request=None
    )
    return page.encode()


async def _with_signed_in_nav(request: Request) -> None:
    """Look the session up, so a signed-in person's error page keeps their navigation."""
    try:
        await load_session(request)
    except (SQLAlchemyError, OSError):
        # The page explains an error already; a database that is down only costs the nav.
        log.warning("error page rendered without the session: the database did not answer")


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    await _with_signed_in_nav(request)
    return error_page(
        request, exc.status_code, title=exc.title, message=exc.message, headers=exc.headers
    )


async def redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return RedirectResponse(exc.location, status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _browser(request):
        await _with_signed_in_nav(request)
        return error_page(request, exc.status_code, headers=dict(exc.headers or {}))
    name = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = JSONResponse(error_body(request, name, exc.detail), status_code=exc.status_code)
    for header, value in (exc.headers or {}).items():
        response.headers[header] = value
    return response


async def too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    if _browser(request):
        await _with_signed_in_nav(request)
        return error_page(
            request,
            429,
            headers={"Retry-After": str(exc.retry_after)},
            retry_after=exc.retry_after,
        )
    detail = f"Too many requests ({exc.limit}); try again in {exc.retry_after} s."
    return JSONResponse(
        error_body(request, "rate_limited", detail),
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TooManyRequests, too_many)
    app.add_exception_handler(CoreError, core_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(Redirect, redirect)
