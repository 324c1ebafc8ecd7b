"""Create and find organizations."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.orgs.models import Organization, PlanTier

_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    slug = _SLUG_RE.sub("-", name.lower()).strip("-")[:64]
    if not slug:
        raise ValidationFailed("An organization name needs at least one letter or digit.")
    return slug


async def create(
    *,
    session: AsyncSession,
    name: str,
    slug: str | None = None,
    plan: PlanTier = PlanTier.FREE,
    timezone: str = "UTC",
    currency: str = "USD",
) -> Organization:
    """Create an organization; the slug must be unique."""
    name = name.strip()
    if not name:
        raise ValidationFailed("The organization needs a name.", field="name")
    slug = slugify(slug or name)
    if await session.scalar(select(Organization.id).where(Organization.slug == slug)):
        raise Conflict(f"An organization with slug {slug!r} exists already.")
    org = Organization(
        name=name, slug=slug, plan=plan, timezone=timezone, currency=currency.upper(), settings={}
    )
    session.add(org)
    await session.flush()
    return org


async def get_by_slug(*, session: AsyncSession, slug: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"No organization with slug {slug!r}.")
    return org


async def get(*, session: AsyncSession, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organization.")
    return org
