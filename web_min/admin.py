"""/admin: the installation operator's pages (operator flag and two-factor sign-in required).

Read-mostly and across orgs, so every read goes through the worker role (`Database.system()`)
and is logged as one structured line naming the operator, the view and its filters; the one
action (retrying a dead letter) is audit-logged. Everything counts against the admin action
limit, 30/min per operator.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from core.action_limits import ActionKind
from core.audit.service import Actor, AuditQuery, search
from core.config import Settings
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import dead_letters
from core.operators import service as operators
from web_min.action_limits import count_action
from web_min.auth.deps import CsrfChecked, OperatorUser, WebUser
from web_min.pages import flash, render
from web_min.team import audit_query, page_links

router = APIRouter(prefix="/admin")
# A log line, not an audit row, per read: audit rows belong to one org and are shown to its
# admins, while an operator's read spans every org (docs/decisions.md).
operator_log = structlog.stdlib.get_logger("adpilot.operator")

AUDIT_PAGE_SIZE = 50
VIEWS = ("orgs", "sync", "dead-letters", "audit")


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def log_read(user: WebUser, view: str, **filters: object) -> None:
    """One line per operator read: who, which view, which filters, through which role."""
    operator_log.info(
        "operator.read",
        operator_id=str(user.user_id),
        operator_email=user.email,
        view=view,
        db_role="worker",
        filters={key: str(value) for key, value in filters.items() if value not in (None, "")},
    )


def _page(request: Request, view: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, "admin.html", {"view": view, **context}, status_code=status_code)


@router.get("")
async def orgs_page(request: Request, user: OperatorUser, offset: int = 0) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    async with _database(request).system() as session:
        orgs = await operators.org_usage(session=session, offset=offset)
    log_read(user, "orgs", offset=offset)
    return _page(
        request,
        "orgs",
        {
            "orgs": orgs,
            "resets_at": operators.quota_resets_at(),
            "offset": max(offset, 0),
            "page_size": operators.PAGE_SIZE,
        },
    )


@router.get("/sync")
async def sync_page(request: Request, user: OperatorUser) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    async with _database(request).system() as session:
        health = await operators.sync_health(session=session)
    log_read(user, "sync")
    return _page(request, "sync", {"health": health})


@router.get("/dead-letters")
async def dead_letters_page(request: Request, user: OperatorUser, all: bool = False) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    async with _database(request).system() as session:
        letters = await dead_letters.list_letters(session=session, include_resolved=all)
        names = await operators.org_names(session=session)
    log_read(user, "dead-letters", all=all or None)
    settings: Settings = request.app.state.settings
    return _page(
        request,
        "dead-letters",
        {
            "letters": letters,
            "org_names": names,
            "show_all": all,
            "can_retry": bool(settings.redis_url),
        },
    )


@router.post("/dead-letters/{letter_id}/retry", dependencies=[CsrfChecked])
async def retry_dead_letter(request: Request, user: OperatorUser, letter_id: uuid.UUID) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    settings: Settings = request.app.state.settings
    if not settings.redis_url:
        flash(request, "Retrying needs the worker's Redis (ADPILOT_REDIS_URL).", "error")
        return RedirectResponse("/admin/dead-letters", status_code=303)
    operator = Actor(
        org_id=user.org_id,
        user_id=user.user_id,
        channel="operator",
        source=request.client.host if request.client else None,
    )
    enqueue = await _arq_enqueue(settings.redis_url)
    try:
        async with _database(request).system() as session:
            letter = await operators.retry_dead_letter(
                session=session, letter_id=letter_id, enqueue=enqueue.send, operator=operator
            )
            job_name = letter.job_name
    except NotFound:
        raise HTTPException(404) from None
    except Conflict as exc:
        flash(request, exc.message, "error")
        return RedirectResponse("/admin/dead-letters", status_code=303)
    finally:
        await enqueue.close()
    operator_log.info(
        "operator.action",
        operator_id=str(user.user_id),
        operator_email=user.email,
        action="dead_letter_retry",
        letter_id=str(letter_id),
        db_role="worker",
    )
    flash(request, f"Queued {job_name} again; a worker runs it.", "success")
    return RedirectResponse("/admin/dead-letters", status_code=303)


class _ArqEnqueue:
    """The worker's queue, opened for one retry (as `adpilot dead-letters retry` does)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def send(self, job_name: str, job_id: str, arguments: dict[str, Any]) -> None:
        await self.pool.enqueue_job(job_name, _job_id=job_id, **arguments)

    async def close(self) -> None:
        await self.pool.aclose()


async def _arq_enqueue(redis_url: str) -> _ArqEnqueue:
    from arq.connections import RedisSettings, create_pool

    from channels.turns import dump_job, load_job

    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), job_serializer=dump_job, job_deserializer=load_job
    )
    return _ArqEnqueue(pool)


@router.get("/audit")
async def audit_page(
    request: Request,
    user: OperatorUser,
    org: str | None = None,
    actor_email: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    offset: int = 0,
) -> Response:
    await count_action(request, user, ActionKind.ADMIN)
    error: str | None = None
    try:
        org_id = uuid.UUID(org) if org else None
        query, kept = audit_query(org_id, actor=None, action=action, since=since, until=until)
    except ValueError:
        error, org_id, query, kept = "Pick an organization from the list.", None, AuditQuery(), {}
    except ValidationFailed as exc:
        error, org_id, query, kept = exc.message, None, AuditQuery(), {}
    if actor_email and not error:
        query = AuditQuery(**{**query.__dict__, "actor_email": actor_email.strip()[:320]})
        kept["actor_email"] = actor_email
    if org and not error:
        kept["org"] = org
    async with _database(request).system() as session:
        page = await search(session=session, query=query, offset=offset, limit=AUDIT_PAGE_SIZE)
        names = await operators.org_names(session=session)
    log_read(
        user,
        "audit",
        org=org,
        actor_email=actor_email,
        action=action,
        since=since,
        until=until,
        offset=offset or None,
    )
    return _page(
        request,
        "audit",
        {
            "audit": page,
            "links": page_links("/admin/audit", kept, page),
            "org_names": names,
            "show_org": True,
            "error": error,
            "filters": {
                "org": org or "",
                "actor_email": actor_email or "",
                "action": action or "",
                "since": since or "",
                "until": until or "",
            },
        },
        status_code=400 if error else 200,
    )
