"""/settings/connections: connect ad accounts through OAuth, pick them, sync, disconnect.

Everyone in the org sees the list; connecting, syncing and disconnecting need the
`manage_accounts` permission (admins). Every refusal of a consent comes back to the list
with a flash saying why; codes and tokens never reach a log line or a page.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters.registry import configured_platforms
from core.accounts import connect, manage, revocation
from core.accounts.connect import ConsentRejected
from core.accounts.revocation import RevokeOutcome
from core.action_limits import ActionKind
from core.audit.service import Actor
from core.config import Settings
from core.errors import CoreError, InvalidRequest, NotFound, ValidationFailed
from core.ports import AdPlatform, PlatformRegistry
from core.rbac import PERMISSIONS, Permission
from web_min.action_limits import count_action
from web_min.auth.deps import CsrfChecked, CurrentUser, PageError, WebUser, require_role
from web_min.connection_revoke import disconnected_message, revoke_held_tokens
from web_min.connection_sync import Requested, SyncTrigger
from web_min.pages import flash, render

log = logging.getLogger(__name__)

router = APIRouter()

LIST_PATH = "/settings/connections"
LABELS = {
    "google": "Google Ads",
    "meta": "Meta Ads",
    "tiktok": "TikTok Ads",
    "sandbox": "Sandbox",
}
STATUS_LABELS = {
    manage.NEVER_SYNCED: "Not synced yet",
    manage.PENDING: "Reconnected, waiting for a sync",
    manage.DISCONNECTED: "Disconnected",
    "ok": "OK",
    "error": "Sync failed",
    "auth_error": "Needs reconnecting",
}
# Cancelled at the platform: Google and Meta send `error=access_denied`.
CANCELLED = {"access_denied", "user_denied", "consent_required"}

# Who may connect, sync and disconnect: whoever the permission table lets manage accounts.
AccountManager = Annotated[
    WebUser,
    Depends(
        require_role(
            *(
                role
                for role, allowed in PERMISSIONS.items()
                if Permission.MANAGE_ACCOUNTS in allowed
            )
        )
    ),
]


def _not_found() -> PageError:
    return PageError(404, "Not found", "There is nothing at this address.")


def offered_platforms(request: Request) -> list[str]:
    """Platforms this installation connects: the sandbox only outside production."""
    settings: Settings = request.app.state.settings
    registry: PlatformRegistry = request.app.state.registry
    names = [name for name in ("google", "meta", "tiktok", "sandbox") if name in registry.names()]
    return [name for name in names if not (name == "sandbox" and settings.is_production)]


def _check_offered(request: Request, name: str) -> None:
    """An unknown platform (or the sandbox in production) is a 404 page."""
    if name not in offered_platforms(request):
        raise _not_found()


def _platform(request: Request, name: str) -> AdPlatform:
    _check_offered(request, name)
    registry: PlatformRegistry = request.app.state.registry
    return registry.get(name)


async def _close(platform: AdPlatform) -> None:
    close = getattr(platform, "aclose", None)
    if close is not None:
        await close()


def redirect_uri(settings: Settings, platform_name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/oauth/{platform_name}/callback"


def _back() -> RedirectResponse:
    return RedirectResponse(LIST_PATH, status_code=303)


def _actor(user: WebUser) -> Actor:
    return Actor(org_id=user.org_id, user_id=user.user_id, channel="web")


def _account_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _not_found() from None


@router.get(LIST_PATH, response_class=HTMLResponse)
async def connections_page(request: Request, user: CurrentUser) -> Response:
    settings: Settings = request.app.state.settings
    async with request.app.state.database.tenant(user.org_id) as session:
        found = await manage.list_for_org(session=session, org_id=user.org_id)
        rows = [
            {
                "id": account.id,
                "platform": LABELS.get(account.platform, account.platform),
                "name": account.name,
                "external_id": account.external_id,
                "status": account.sync_status,
                "status_label": STATUS_LABELS.get(account.sync_status, account.sync_status),
                "last_synced_at": account.last_synced_at,
                "last_error": account.last_error,
                "connected": manage.is_connected(account),
            }
            for account in found
        ]
    configured = configured_platforms(settings)
    platforms = [
        {
            "name": name,
            "label": LABELS[name],
            # Outside production an unconfigured platform is served by the simulation.
            "simulated": name == "sandbox" or name not in configured,
        }
        for name in offered_platforms(request)
    ]
    may_manage = Permission.MANAGE_ACCOUNTS in PERMISSIONS[user.role]
    return render(
        request,
        "connections.html",
        {
            "accounts": rows,
            "platforms": platforms,
            "may_manage": may_manage,
            "queued_syncs": SyncTrigger.for_app(request.app).queued,
        },
    )


@router.post("/settings/connections/{platform_name}/start", dependencies=[CsrfChecked])
async def start_connect(request: Request, platform_name: str, user: AccountManager) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    settings: Settings = request.app.state.settings
    platform = _platform(request, platform_name)
    try:
        async with request.app.state.database.tenant(user.org_id) as session:
            url = await connect.start(
                session=session,
                org_id=user.org_id,
                user_id=user.user_id,
                session_id=user.session_id,
                platform=platform,
                redirect_uri=redirect_uri(settings, platform_name),
            )
    except InvalidRequest:
        # Production without the platform's app credentials (the adapter names the setting).
        flash(request, f"{LABELS[platform_name]} is not set up on this installation.", "error")
        return _back()
    finally:
        await _close(platform)
    return RedirectResponse(url, status_code=303)


@router.get("/oauth/{platform_name}/callback")
async def oauth_callback(request: Request, platform_name: str, user: AccountManager) -> Response:
    platform = _platform(request, platform_name)
    try:
        return await _finish_consent(request, platform, platform_name, user)
    finally:
        await _close(platform)


async def _finish_consent(
    request: Request, platform: AdPlatform, platform_name: str, user: WebUser
) -> Response:
    label = LABELS[platform_name]
    params = request.query_params
    state = params.get("state") or ""
    # TikTok names the code `auth_code`.
    code = params.get("code") or params.get("auth_code") or ""
    error = params.get("error")
    try:
        async with request.app.state.database.tenant(user.org_id) as session:
            claimed = await connect.claim(
                session=session,
                platform_name=platform_name,
                state=state,
                session_id=user.session_id,
                user_id=user.user_id,
            )
    except ConsentRejected as refused:
        if error in CANCELLED:
            flash(request, f"You cancelled connecting {label}; nothing was connected.", "info")
        else:
            flash(request, refused.message, "error")
        return _back()
    if error is not None or not code:
        if error in CANCELLED:
            flash(request, f"You cancelled connecting {label}; nothing was connected.", "info")
        else:
            flash(
                request, f"{label} did not grant access ({error or 'no code'}). Try again.", "error"
            )
        return _back()
    try:
        grant = await connect.exchange(
            platform=platform,
            code=code,
            redirect_uri=redirect_uri(request.app.state.settings, platform_name),
            claimed=claimed,
        )
    except CoreError as exc:
        log.warning("%s consent exchange failed: %s", platform_name, exc.code)
        flash(request, f"{label} refused the sign-in: {exc.message} Try again.", "error")
        return _back()
    except Exception as exc:  # the page says so plainly; the log names the kind, no body
        log.warning("%s consent exchange failed: %s", platform_name, type(exc).__name__)
        flash(request, f"Could not finish connecting {label}. Try again.", "error")
        return _back()
    if not grant.accounts:
        flash(request, f"That {label} login reaches no ad accounts; nothing was connected.", "info")
        return _back()
    async with request.app.state.database.tenant(user.org_id) as session:
        await connect.hold_grant(session=session, flow_id=claimed.flow_id, grant=grant)
    # Post/redirect/get: reloading the pick page must not replay the callback.
    return RedirectResponse(_pick_path(platform_name, claimed.flow_id), status_code=303)


def _pick_path(platform_name: str, flow: str) -> str:
    return f"/settings/connections/{platform_name}/pick?{urlencode({'flow': flow})}"


@router.get("/settings/connections/{platform_name}/pick", response_class=HTMLResponse)
async def pick_page(
    request: Request, platform_name: str, user: AccountManager, flow: str = ""
) -> Response:
    _check_offered(request, platform_name)
    try:
        async with request.app.state.database.tenant(user.org_id) as session:
            grant = await connect.read_grant(
                session=session,
                flow_id=flow,
                platform_name=platform_name,
                session_id=user.session_id,
            )
            connected = {
                account.external_id
                for account in await manage.list_for_org(session=session, org_id=user.org_id)
                if account.platform == platform_name and manage.is_connected(account)
            }
    except ConsentRejected as refused:
        flash(request, refused.message, "error")
        return _back()
    return render(
        request,
        "connections_pick.html",
        {
            "platform_name": platform_name,
            "label": LABELS[platform_name],
            "flow": flow,
            "accounts": grant.accounts,
            "connected": connected,
        },
    )


@router.post("/settings/connections/{platform_name}/pick", dependencies=[CsrfChecked])
async def pick_accounts(request: Request, platform_name: str, user: AccountManager) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    _check_offered(request, platform_name)
    form = await request.form()
    flow = str(form.get("flow") or "")
    picked = [str(value) for value in form.getlist("account")]
    if not picked:
        flash(request, "Pick at least one ad account.", "warning")
        return RedirectResponse(_pick_path(platform_name, flow), status_code=303)
    try:
        async with request.app.state.database.tenant(user.org_id) as session:
            grant = await connect.take_grant(
                session=session,
                flow_id=flow,
                platform_name=platform_name,
                session_id=user.session_id,
            )
            stored = await manage.connect_accounts(
                session=session,
                actor=_actor(user),
                platform_name=platform_name,
                grant=grant,
                external_ids=picked,
            )
    except (ConsentRejected, ValidationFailed) as refused:
        flash(request, refused.message, "error")
        return _back()
    names = ", ".join(account.name for account in stored)
    flash(request, f"Connected {names}. The first sync runs within 15 minutes.", "success")
    return _back()


@router.post("/settings/connections/{account_id}/sync", dependencies=[CsrfChecked])
async def sync_now(request: Request, account_id: str, user: AccountManager) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    parsed = _account_id(account_id)
    try:
        async with request.app.state.database.tenant(user.org_id) as session:
            account = await manage.get_for_org(
                session=session, org_id=user.org_id, account_id=parsed
            )
            name, connected = account.name, manage.is_connected(account)
    except NotFound:
        raise _not_found() from None
    if not connected:
        flash(request, f"{name} is disconnected; connect it again to sync.", "warning")
        return _back()
    try:
        outcome = await SyncTrigger.for_app(request.app).request(parsed)
    except Exception as exc:  # Redis down: say so, the cron still syncs later
        log.warning("sync now could not be queued: %s", type(exc).__name__)
        flash(request, f"Could not queue a sync of {name} right now. Try again.", "error")
        return _back()
    messages = {
        Requested.QUEUED: (f"Sync of {name} queued; the worker runs it shortly.", "success"),
        Requested.ALREADY_QUEUED: (f"A sync of {name} is already queued.", "info"),
        Requested.RUNNING_HERE: (
            f"Syncing {name} in this process (embedded mode, no worker queue); "
            "reload in a moment to see the result.",
            "success",
        ),
        Requested.ALREADY_RUNNING: (f"{name} is already syncing.", "info"),
    }
    text, kind = messages[outcome]
    flash(request, text, kind)
    return _back()


@router.post("/settings/connections/{account_id}/disconnect", dependencies=[CsrfChecked])
async def disconnect(request: Request, account_id: str, user: AccountManager) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    parsed = _account_id(account_id)
    try:
        # Committed before the platform is asked: an outage there never keeps tokens here.
        async with request.app.state.database.tenant(user.org_id) as session:
            gone = await manage.disconnect(session=session, actor=_actor(user), account_id=parsed)
    except NotFound:
        raise _not_found() from None
    account = gone.account
    outcome = await revoke_held_tokens(request.app, account.platform, gone.tokens)
    if outcome.outcome is not RevokeOutcome.NOTHING_HELD:
        async with request.app.state.database.tenant(user.org_id) as session:
            await revocation.record(
                session=session,
                actor=_actor(user),
                account_id=account.id,
                platform_name=account.platform,
                revocation=outcome,
            )
    label = LABELS.get(account.platform, account.platform)
    text, kind = disconnected_message(account.name, label, outcome)
    flash(request, text, kind)
    return _back()
