"""GET /settings/channels: Slack install, link codes, linked chat accounts, alert destinations.

Everyone sees the page; linking and unlinking your own chat accounts is yours; only admins
change where the org's alerts go (the others read it). Core decides every permission again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession

from channels.catalog import CHANNELS, channel_status
from core.action_limits import ActionKind
from core.base import utcnow
from core.config import Settings
from core.db import Database
from core.errors import CoreError, TooManyOpen
from core.notify import destinations as service
from core.notify.models import Destination
from core.notify.service import FALLBACK
from core.orgs.models import Organization
from core.security.crypto import get_cipher
from core.users import identity
from core.users import service as users
from core.users.models import Role, User
from web_min.action_limits import count_action
from web_min.auth.deps import AdminUser, CsrfChecked, CurrentUser, WebUser
from web_min.destination_forms import (
    ALERT_KINDS,
    DESTINATION_KINDS,
    TAKES,
    DestinationForm,
    PolicyForm,
    parse_destination,
    parse_policy,
    read_destination_form,
    read_policy_form,
)
from web_min.destination_probe import send_test
from web_min.pages import flash, render
from web_min.rate_limit import TooManyRequests
from web_min.refusals import parse_id, refuse, status_of

router = APIRouter()

PAGE = "/settings/channels"
TESTS_PER_ORG = parse("10/minute")


@dataclass(frozen=True)
class LinkTarget:
    """Where a person sends `link CODE`: the channel and the bot's handle or number."""

    channel: str
    label: str
    served: bool
    handle: str | None
    how: str


def _served(settings: Settings, name: str) -> bool:
    # The catalog's verdict without channel_ready's warning: this page is loaded often.
    spec = next(channel for channel in CHANNELS if channel.name == name)
    return channel_status(spec, settings).state == "ok"


def link_targets(settings: Settings) -> list[LinkTarget]:
    telegram = (
        f"@{settings.telegram_bot_username.lstrip('@')}" if settings.telegram_bot_username else None
    )
    return [
        LinkTarget(
            "telegram",
            "Telegram",
            _served(settings, "telegram"),
            telegram,
            "Open a chat with the bot and send",
        ),
        LinkTarget(
            "whatsapp",
            "WhatsApp",
            _served(settings, "whatsapp"),
            settings.whatsapp_number,
            "Send a WhatsApp message to the number with",
        ),
        LinkTarget(
            "signal",
            "Signal",
            _served(settings, "signal"),
            settings.signal_number,
            "Send a Signal message to the number with",
        ),
        LinkTarget(
            "slack",
            "Slack",
            _served(settings, "slack"),
            None,
            "Send the app a direct message with",
        ),
    ]


async def _me(session: AsyncSession, user: WebUser) -> User:
    return await users.get(session=session, org_id=user.org_id, user_id=user.user_id)


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _takes_text(destination: Destination) -> str:
    parts = [
        ALERT_KINDS[kind] + (" (fallback)" if value == FALLBACK else "")
        for kind, value in destination.kinds.items()
        if value and kind in ALERT_KINDS
    ]
    return ", ".join(parts) or "nothing yet"


def _shown_address(destination: Destination) -> str:
    if destination.channel == "slack_webhook":
        # The URL is the credential: only its workspace/hook label, never the secret part.
        return f"https://hooks.slack.com/services/{destination.conversation_id}/••••••••"
    if destination.channel == "slack" and destination.workspace:
        return f"{destination.conversation_id} in {destination.workspace}"
    return destination.conversation_id


async def _page_context(request: Request, session: AsyncSession, user: WebUser) -> dict[str, Any]:
    settings = _settings(request)
    is_admin = user.role == Role.ADMIN
    org = await session.get(Organization, user.org_id)
    assert org is not None  # the signed-in user's own org
    linked = await identity.list_identities(
        session=session, org_id=user.org_id, user_id=None if is_admin else user.user_id
    )
    found = await service.list_destinations(session=session, org_id=user.org_id)
    policy, _ = service.current_policy(org)
    slack = getattr(request.app.state, "slack", None)
    return {
        "is_admin": is_admin,
        "org": org,
        "slack_served": slack is not None,
        "slack_installable": getattr(slack, "installations", None) is not None,
        "link_targets": link_targets(settings),
        "identities": [
            {"row": row, "email": email, "mine": row.user_id == user.user_id}
            for row, email in linked
        ],
        "destinations": [
            {
                "row": destination,
                "kind": DESTINATION_KINDS.get(destination.channel, destination.channel),
                "address": _shown_address(destination),
                "takes": _takes_text(destination),
                "position": index + 1,
            }
            for index, destination in enumerate(found)
        ],
        "destination_kinds": DESTINATION_KINDS,
        "alert_kinds": ALERT_KINDS,
        "takes_choices": TAKES,
        "form": DestinationForm(),
        "policy_form": PolicyForm(
            quiet_start=policy.quiet_start.strftime("%H:%M") if policy.quiet_start else "",
            quiet_end=policy.quiet_end.strftime("%H:%M") if policy.quiet_end else "",
            digest_threshold=str(policy.digest_threshold),
            positions={str(d.id): str(index + 1) for index, d in enumerate(found)},
        ),
        "link_code": None,
        "link_error": None,
    }


async def _render(
    request: Request,
    user: WebUser,
    *,
    status_code: int = 200,
    extra: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    async with _database(request).tenant(user.org_id) as session:
        context = await _page_context(request, session, user)
    context.update(extra or {})
    return render(request, "channels.html", context, status_code=status_code)


def _back(anchor: str = "") -> RedirectResponse:
    return RedirectResponse(PAGE + (f"#{anchor}" if anchor else ""), status_code=303)


@router.get(PAGE, response_class=HTMLResponse)
async def channels_page(request: Request, user: CurrentUser) -> Response:
    return await _render(request, user)


@router.post(f"{PAGE}/link-code", dependencies=[CsrfChecked])
async def create_link_code(request: Request, user: CurrentUser) -> Response:
    """A one-time code for the signed-in user, shown once in this response (only its hash is
    kept), so it is rendered here rather than carried through a redirect."""
    now = utcnow()
    try:
        async with _database(request).tenant(user.org_id) as session:
            code = await identity.create_link_code(
                session=session, org_id=user.org_id, user_id=user.user_id, now=now
            )
    except TooManyOpen as exc:
        page = await _render(request, user, status_code=429, extra={"link_error": exc.message})
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    expires_at: datetime = now + identity.CODE_TTL
    minutes = int(identity.CODE_TTL.total_seconds() // 60)
    return await _render(
        request,
        user,
        extra={"link_code": {"code": code, "expires_at": expires_at, "minutes": minutes}},
    )


@router.post(f"{PAGE}/identities/{{identity_id}}/revoke", dependencies=[CsrfChecked])
async def revoke_identity(request: Request, user: CurrentUser, identity_id: str) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    target = parse_id(identity_id)
    try:
        async with _database(request).tenant(user.org_id) as session:
            revoked = await identity.revoke_identity(
                session=session,
                org_id=user.org_id,
                identity_id=target,
                user=await _me(session, user),
            )
    except CoreError as exc:
        raise refuse(exc) from exc
    flash(
        request,
        f"Unlinked {revoked.channel} account {revoked.display_name or revoked.external_user_id}: "
        "its messages no longer reach AdPilot as you.",
        "success",
    )
    return _back("identities")


async def _form(request: Request) -> dict[str, str]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


@router.post(f"{PAGE}/destinations", dependencies=[CsrfChecked])
async def add_destination(request: Request, user: AdminUser) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    data = read_destination_form(await _form(request))
    parsed = parse_destination(data, _settings(request))
    if parsed is None:
        return await _render(request, user, status_code=400, extra={"form": data})
    try:
        async with _database(request).tenant(user.org_id) as session:
            await service.create_destination(
                session=session,
                org_id=user.org_id,
                user=await _me(session, user),
                destination_in=parsed,
                cipher=get_cipher(_settings(request)),
            )
    except CoreError as exc:
        if status_of(exc) != 400:
            raise refuse(exc) from exc
        data.errors["form"] = exc.message
        return await _render(request, user, status_code=400, extra={"form": data})
    flash(request, f"Added {DESTINATION_KINDS[parsed.channel]} {parsed.name or ''}.", "success")
    return _back("destinations")


async def _destination(request: Request, user: WebUser, raw_id: str) -> Destination:
    target = parse_id(raw_id)
    try:
        async with _database(request).tenant(user.org_id) as session:
            return await service.get_destination(
                session=session, org_id=user.org_id, destination_id=target
            )
    except CoreError as exc:
        raise refuse(exc) from exc


def _render_edit(
    request: Request, destination: Destination, data: DestinationForm, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "destination_edit.html",
        {
            "destination": destination,
            "address": _shown_address(destination),
            "form": data,
            "destination_kinds": DESTINATION_KINDS,
            "alert_kinds": ALERT_KINDS,
            "takes_choices": TAKES,
        },
        status_code=status_code,
    )


@router.get(f"{PAGE}/destinations/{{destination_id}}", response_class=HTMLResponse)
async def edit_destination_page(request: Request, user: AdminUser, destination_id: str) -> Response:
    destination = await _destination(request, user, destination_id)
    return _render_edit(request, destination, DestinationForm.of(destination))


@router.post(f"{PAGE}/destinations/{{destination_id}}", dependencies=[CsrfChecked])
async def edit_destination(request: Request, user: AdminUser, destination_id: str) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    destination = await _destination(request, user, destination_id)
    data = read_destination_form(await _form(request))
    parsed = parse_destination(data, _settings(request), editing=destination)
    if parsed is None:
        return _render_edit(request, destination, data, status_code=400)
    try:
        async with _database(request).tenant(user.org_id) as session:
            await service.update_destination(
                session=session,
                org_id=user.org_id,
                user=await _me(session, user),
                destination_id=destination.id,
                destination_in=parsed,
                cipher=get_cipher(_settings(request)),
            )
    except CoreError as exc:
        if status_of(exc) != 400:
            raise refuse(exc) from exc
        data.errors["form"] = exc.message
        return _render_edit(request, destination, data, status_code=400)
    flash(request, "Saved the destination.", "success")
    return _back("destinations")


@router.post(f"{PAGE}/destinations/{{destination_id}}/delete", dependencies=[CsrfChecked])
async def delete_destination(request: Request, user: AdminUser, destination_id: str) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    target = parse_id(destination_id)
    try:
        async with _database(request).tenant(user.org_id) as session:
            await service.delete_destination(
                session=session,
                org_id=user.org_id,
                user=await _me(session, user),
                destination_id=target,
            )
    except CoreError as exc:
        raise refuse(exc) from exc
    flash(request, "Removed the destination; nothing more goes there.", "success")
    return _back("destinations")


@router.post(f"{PAGE}/destinations/{{destination_id}}/test", dependencies=[CsrfChecked])
async def test_destination(request: Request, user: AdminUser, destination_id: str) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    destination = await _destination(request, user, destination_id)
    try:
        # A button that posts into a team's channel: a few per minute is plenty.
        await request.app.state.limiter.check(TESTS_PER_ORG, "destination_test", str(user.org_id))
    except TooManyRequests as exc:
        flash(request, f"Too many test messages; try again in {exc.retry_after} s.", "error")
        return _back("destinations")
    result = await send_test(
        destination=destination,
        settings=_settings(request),
        served=request.app.state.channels,
        sender=user.email,
    )
    async with _database(request).tenant(user.org_id) as session:
        await service.record_test(
            session=session,
            org_id=user.org_id,
            user=await _me(session, user),
            destination=destination,
            outcome="sent" if result.ok else result.text,
        )
    flash(request, result.text, "success" if result.ok else "error")
    return _back("destinations")


@router.post(f"{PAGE}/policy", dependencies=[CsrfChecked])
async def save_policy(request: Request, user: AdminUser) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    async with _database(request).tenant(user.org_id) as session:
        known = [d.id for d in await service.list_destinations(session=session, org_id=user.org_id)]
    data = read_policy_form(await _form(request), known)
    parsed = parse_policy(data)
    if parsed is None:
        return await _render(request, user, status_code=400, extra={"policy_form": data})
    try:
        async with _database(request).tenant(user.org_id) as session:
            await service.set_policy(
                session=session, org_id=user.org_id, user=await _me(session, user), policy_in=parsed
            )
    except CoreError as exc:
        if status_of(exc) != 400:
            raise refuse(exc) from exc
        data.errors["form"] = exc.message
        return await _render(request, user, status_code=400, extra={"policy_form": data})
    flash(request, "Saved quiet hours, digest threshold and fallback order.", "success")
    return _back("delivery")
