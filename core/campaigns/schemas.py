"""Inputs to the campaign service and the status machine's table of legal moves."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.campaigns.models import CampaignStatus

CampaignName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
]
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]

# Every move the status machine allows; anything else is an IllegalTransition.
LEGAL_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.PENDING_REVIEW, CampaignStatus.ARCHIVED}),
    CampaignStatus.PENDING_REVIEW: frozenset(
        {CampaignStatus.ACTIVE, CampaignStatus.DRAFT, CampaignStatus.ARCHIVED}
    ),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.ARCHIVED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.ACTIVE, CampaignStatus.ARCHIVED}),
    CampaignStatus.ARCHIVED: frozenset(),
}


def is_legal(current: CampaignStatus, target: CampaignStatus) -> bool:
    return target in LEGAL_TRANSITIONS[current]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CampaignCreate(_Input):
    """A new campaign in one of the org's ad accounts; it starts as a draft unless told."""

    ad_account_id: uuid.UUID
    name: CampaignName
    external_id: str | None = Field(default=None, max_length=64)
    objective: str | None = Field(default=None, max_length=64)
    daily_budget: Money | None = None
    lifetime_budget: Money | None = None
    # Imports from a platform arrive in whatever state the platform reports.
    status: CampaignStatus = CampaignStatus.DRAFT


class CampaignUpdate(_Input):
    """Fields to change; None leaves a field as it is."""

    name: CampaignName | None = None
    objective: str | None = Field(default=None, max_length=64)
    daily_budget: Money | None = None
    lifetime_budget: Money | None = None
