"""Find a campaign by what a person types: id, external id, exact or fuzzy name, within one org."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.campaigns.models import Campaign, CampaignStatus
from core.errors import AmbiguousMatch, NotFound, ValidationFailed

# A fuzzy score (0-100) at or above this counts as a match.
MATCH_THRESHOLD = 75.0
# Matches this close to the best one make the answer ambiguous.
AMBIGUITY_MARGIN = 5.0
# Below this a name is not even worth suggesting.
SUGGESTION_FLOOR = 40.0
# A typed word counts only if it is this close to a word of the name ("sumer" ~ "summer").
_TOKEN_FLOOR = 80.0


@dataclass(frozen=True)
class Match:
    campaign: Campaign
    score: float


def _words(text: str) -> list[str]:
    return default_process(text).split()


def _word_score(word: str, name_words: Sequence[str]) -> float:
    best = 0.0
    for candidate in name_words:
        score = fuzz.ratio(word, candidate)
        if len(word) >= 3 and candidate.startswith(word):
            score = max(score, 95.0)
        best = max(best, score)
    return best if best >= _TOKEN_FLOOR else 0.0


def score(query: str, name: str) -> float:
    """How well `query` names `name`: mostly the share of typed words found, a little WRatio."""
    query_words, name_words = _words(query), _words(name)
    if not query_words or not name_words:
        return 0.0
    coverage = sum(_word_score(word, name_words) for word in query_words) / len(query_words)
    overall = fuzz.WRatio(query, name, processor=default_process)
    return 0.8 * coverage + 0.2 * overall


def _label(campaign: Campaign) -> str:
    return f"{campaign.name} [{campaign.platform}, {campaign.status}]"


def _ambiguous(query: str, campaigns: Sequence[Campaign]) -> AmbiguousMatch:
    labels = "; ".join(_label(campaign) for campaign in campaigns)
    return AmbiguousMatch(
        f"{query!r} matches {len(campaigns)} campaigns: {labels}. Which one?",
        candidates=[campaign.name for campaign in campaigns],
    )


def _prefer_live(campaigns: list[Campaign]) -> list[Campaign]:
    live = [c for c in campaigns if c.status != CampaignStatus.ARCHIVED]
    return live or campaigns


def _exact(query: str, campaigns: Sequence[Campaign]) -> list[Campaign]:
    """Id, external id and case-insensitive name matches, strongest kind first."""
    try:
        wanted_id: uuid.UUID | None = uuid.UUID(query)
    except ValueError:
        wanted_id = None
    if wanted_id is not None:
        by_id = [c for c in campaigns if c.id == wanted_id]
        if by_id:
            return by_id
    by_external = [c for c in campaigns if c.external_id is not None and c.external_id == query]
    if by_external:
        return _prefer_live(by_external)
    folded = " ".join(query.casefold().split())
    return _prefer_live([c for c in campaigns if " ".join(c.name.casefold().split()) == folded])


def rank(query: str, campaigns: Sequence[Campaign]) -> list[Match]:
    """Every campaign scored against `query`, best first."""
    matches = [Match(campaign=c, score=score(query, c.name)) for c in campaigns]
    return sorted(matches, key=lambda m: (-m.score, m.campaign.name))


async def _candidates(
    session: AsyncSession, org_id: uuid.UUID, platform: str | None
) -> list[Campaign]:
    query = select(Campaign).where(Campaign.org_id == org_id)
    if platform is not None:
        query = query.where(Campaign.platform == platform)
    return list(await session.scalars(query.order_by(Campaign.name)))


async def search(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    query: str,
    platform: str | None = None,
    limit: int = 5,
    include_archived: bool = False,
) -> list[Match]:
    """The org's campaigns ranked by how well their names match `query` (for suggestions)."""
    campaigns = await _candidates(session, org_id, platform)
    if not include_archived:
        campaigns = [c for c in campaigns if c.status != CampaignStatus.ARCHIVED]
    return [m for m in rank(query, campaigns) if m.score >= SUGGESTION_FLOOR][:limit]


async def find(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    query: str,
    platform: str | None = None,
    include_archived: bool = False,
) -> Campaign:
    """The one campaign `query` names; AmbiguousMatch lists close candidates, NotFound suggests."""
    query = query.strip()
    if not query:
        raise ValidationFailed("Which campaign? The name is empty.", field="campaign")
    campaigns = await _candidates(session, org_id, platform)
    exact = _exact(query, campaigns)
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise _ambiguous(query, exact)
    if not include_archived:
        campaigns = [c for c in campaigns if c.status != CampaignStatus.ARCHIVED]
    ranked = rank(query, campaigns)
    if not ranked or ranked[0].score < MATCH_THRESHOLD:
        suggestions = [m.campaign.name for m in ranked[:3] if m.score >= SUGGESTION_FLOOR]
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        where = f" on {platform}" if platform else ""
        raise NotFound(f"No campaign matches {query!r}{where}.{hint}", suggestions=suggestions)
    close = [m.campaign for m in ranked if m.score >= ranked[0].score - AMBIGUITY_MARGIN]
    if len(close) > 1:
        raise _ambiguous(query, close)
    return close[0]
