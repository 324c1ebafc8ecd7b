"""Fuzzy campaign lookup in one org: exact wins, ambiguity lists candidates, no leaks."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts.models import AdAccount
from core.campaigns import lookup
from core.campaigns.models import CampaignStatus
from core.errors import AmbiguousMatch, NotFound, ValidationFailed
from core.orgs.models import Organization
from tests import factories


async def _org_with(
    session: AsyncSession, names_by_platform: dict[str, list[str]]
) -> tuple[Organization, dict[str, AdAccount]]:
    org = await factories.org(session)
    accounts: dict[str, AdAccount] = {}
    for platform, names in names_by_platform.items():
        accounts[platform] = await factories.ad_account(session, org, platform=platform)
        for name in names:
            await factories.campaign(session, accounts[platform], name=name)
    return org, accounts


async def test_partial_lowercase_name_finds_the_campaign(session: AsyncSession) -> None:
    org, _ = await _org_with(
        session,
        {"tiktok": ["Summer Sale 2026 – TikTok", "Summer Launch"], "google": ["Winter Sale 2026"]},
    )
    found = await lookup.find(session=session, org_id=org.id, query="summer sale")
    assert found.name == "Summer Sale 2026 – TikTok"
    typo = await lookup.find(session=session, org_id=org.id, query="sumer sale")
    assert typo.name == "Summer Sale 2026 – TikTok"


async def test_close_candidates_raise_ambiguous_listing_them(session: AsyncSession) -> None:
    org, _ = await _org_with(
        session,
        {"tiktok": ["Summer Sale 2026 – TikTok"], "google": ["Summer Sale 2026 – Google", "Brand"]},
    )
    with pytest.raises(AmbiguousMatch) as caught:
        await lookup.find(session=session, org_id=org.id, query="summer sale")
    assert sorted(caught.value.candidates) == [
        "Summer Sale 2026 – Google",
        "Summer Sale 2026 – TikTok",
    ]
    assert "Summer Sale 2026 – Google" in caught.value.message
    # A platform filter or one more word settles it.
    on_google = await lookup.find(
        session=session, org_id=org.id, query="summer sale", platform="google"
    )
    assert on_google.name == "Summer Sale 2026 – Google"
    by_word = await lookup.find(session=session, org_id=org.id, query="summer sale tiktok")
    assert by_word.name == "Summer Sale 2026 – TikTok"


async def test_exact_name_id_and_external_id_win_over_fuzzy(session: AsyncSession) -> None:
    org, _ = await _org_with(
        session, {"meta": ["Brand Search", "Brand Search Plus", "Brand Search (old)"]}
    )
    exact = await lookup.find(session=session, org_id=org.id, query="  BRAND   search ")
    assert exact.name == "Brand Search"
    plus = await lookup.find(session=session, org_id=org.id, query="brand search plus")
    by_id = await lookup.find(session=session, org_id=org.id, query=str(plus.id))
    assert by_id.id == plus.id
    assert plus.external_id is not None
    by_external = await lookup.find(session=session, org_id=org.id, query=plus.external_id)
    assert by_external.id == plus.id


async def test_same_exact_name_on_two_platforms_is_ambiguous(session: AsyncSession) -> None:
    org, _ = await _org_with(session, {"meta": ["Retargeting"], "google": ["Retargeting"]})
    with pytest.raises(AmbiguousMatch) as caught:
        await lookup.find(session=session, org_id=org.id, query="retargeting")
    assert caught.value.candidates == ["Retargeting", "Retargeting"]
    assert "meta" in caught.value.message
    assert "google" in caught.value.message


async def test_nothing_found_suggests_the_closest(session: AsyncSession) -> None:
    org, _ = await _org_with(session, {"meta": ["Summer Sale 2026", "Black Friday", "Brand"]})
    with pytest.raises(NotFound) as caught:
        await lookup.find(session=session, org_id=org.id, query="summer promo")
    assert caught.value.suggestions[0] == "Summer Sale 2026"
    assert "Black Friday" not in caught.value.suggestions
    assert "Summer Sale 2026" in caught.value.message
    with pytest.raises(NotFound) as nothing:
        await lookup.find(session=session, org_id=org.id, query="xyzzy")
    assert nothing.value.suggestions == []


async def test_never_returns_another_orgs_campaign(session: AsyncSession) -> None:
    org, _ = await _org_with(session, {"meta": ["Spring Launch"]})
    other, _ = await _org_with(session, {"meta": ["Summer Sale 2026 – TikTok"]})
    foreign = await lookup.find(session=session, org_id=other.id, query="summer sale")
    await factories.act_as(session, org)
    with pytest.raises(NotFound):
        await lookup.find(session=session, org_id=org.id, query="summer sale")
    with pytest.raises(NotFound):
        await lookup.find(session=session, org_id=org.id, query=str(foreign.id))
    with pytest.raises(NotFound):
        await lookup.find(session=session, org_id=org.id, query="Summer Sale 2026 – TikTok")


async def test_archived_campaigns_are_skipped_by_fuzzy_but_found_exactly(
    session: AsyncSession,
) -> None:
    org = await factories.org(session)
    account = await factories.ad_account(session, org)
    old = await factories.campaign(
        session, account, name="Summer Sale 2025", status=CampaignStatus.ARCHIVED
    )
    live = await factories.campaign(session, account, name="Summer Sale 2026")
    assert (await lookup.find(session=session, org_id=org.id, query="summer sale")).id == live.id
    exact = await lookup.find(session=session, org_id=org.id, query="summer sale 2025")
    assert exact.id == old.id
    ranked = await lookup.search(session=session, org_id=org.id, query="summer", limit=5)
    assert [m.campaign.id for m in ranked] == [live.id]


async def test_empty_query_is_a_validation_error(session: AsyncSession) -> None:
    org = await factories.org(session)
    with pytest.raises(ValidationFailed):
        await lookup.find(session=session, org_id=org.id, query="   ")


@pytest.mark.parametrize(
    ("query", "name", "matches"),
    [
        ("summer sale", "Summer Sale 2026 – TikTok", True),
        ("summer sale", "Winter Sale 2026", False),
        ("blk friday", "Black Friday Meta", False),
        ("black fri", "Black Friday Meta", True),
        ("brand", "Brand Search", True),
        ("xyz", "Brand Search", False),
    ],
)
def test_score_threshold(query: str, name: str, matches: bool) -> None:
    assert (lookup.score(query, name) >= lookup.MATCH_THRESHOLD) is matches
