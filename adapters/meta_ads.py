"""Meta Marketing API (Graph): OAuth, ad accounts, campaigns, insights; budgets in minor units."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters.base import JSON, HttpAdapter, Sleep, _sleep, expires_at
from adapters.granularity import DailyAndHourlyMetrics
from adapters.meta_errors import BUDGET_THROTTLE_WAIT, MetaThrottled, graph_error
from adapters.meta_schemas import (
    AccountCurrency,
    AdAccount,
    Campaign,
    HourlyInsightsRow,
    InsightsRow,
    TokenAnswer,
)
from adapters.money import from_meta_minor, to_meta_minor
from adapters.revocation import revoke_meta
from adapters.schemas import validated
from core.config import Settings
from core.errors import (
    InvalidRequest,
    PlatformNotFound,
    PlatformUnavailable,
    RateLimited,
)
from core.ports import (
    CampaignChanges,
    CampaignDraft,
    MetricRow,
    MutationResult,
    PlatformAccount,
    PlatformCampaign,
    PlatformStatus,
    RevokeAnswer,
    TokenSet,
)

SCOPES = "ads_management,ads_read,business_management"
MAX_PAGES = 1000
_STATUS_IN = {"ACTIVE": "ACTIVE", "PAUSED": "PAUSED", "ARCHIVED": "ARCHIVED", "DELETED": "ARCHIVED"}
_CAMPAIGN_FIELDS = "id,account_id,name,status,objective,daily_budget,lifetime_budget"


def _act(account_id: str) -> str:
    digits = account_id.removeprefix("act_")
    if not digits.isdigit():
        raise InvalidRequest(f"Not a Meta ad account id: {account_id!r}.")
    return f"act_{digits}"


class MetaAdsAdapter(DailyAndHourlyMetrics, HttpAdapter):
    """The Meta Marketing API; the token travels as a Bearer header, never in the URL."""

    name = "meta"

    def __init__(
        self, settings: Settings, *, client: httpx.AsyncClient | None = None, sleep: Sleep = _sleep
    ) -> None:
        super().__init__(settings, client=client, sleep=sleep)
        self._currencies: dict[str, str] = {}

    @property
    def _api(self) -> str:
        return f"{self.settings.meta_api_url.rstrip('/')}/{self.settings.meta_api_version}"

    def raise_for_response(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise graph_error(body["error"], response)
        super().raise_for_response(response)

    async def _get(self, path: str, token: str | None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await self.request_json("GET", f"{self._api}/{path}", params=params, headers=headers)

    async def _post(self, path: str, token: str, *, idempotent: bool = True, **form: Any) -> Any:
        return await self.request_json(
            "POST",
            f"{self._api}/{path}",
            data={key: str(value) for key, value in form.items()},
            headers={"Authorization": f"Bearer {token}"},
            idempotent=idempotent,
        )

    async def _paged(self, path: str, token: str, **params: Any) -> list[JSON]:
        """Every item across pages, following paging.cursors.after while paging.next exists."""
        items: list[JSON] = []
        for _ in range(MAX_PAGES):
            body = await self._get(path, token, **params)
            items.extend(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return items
            params = {**params, "after": after}
        raise PlatformUnavailable(f"Meta kept paging past {MAX_PAGES} pages.")

    # --- OAuth ------------------------------------------------------------------------------

    def _app(self) -> tuple[str, str]:
        if not self.settings.meta_app_id or self.settings.meta_app_secret is None:
            raise InvalidRequest("ADPILOT_META_APP_ID and ADPILOT_META_APP_SECRET must be set.")
        return self.settings.meta_app_id, self.settings.meta_app_secret.get_secret_value()

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        app_id, _ = self._app()
        query = {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": SCOPES,
            "response_type": "code",
        }
        return f"{self.settings.meta_oauth_authorize_url}?{urlencode(query)}"

    async def revoke_tokens(self, tokens: TokenSet) -> RevokeAnswer:
        return await revoke_meta(self, tokens)

    async def _token_exchange(self, form: dict[str, str], *, idempotent: bool) -> TokenAnswer:
        # A POST form body, not the query string the docs show: the endpoint takes both
        # (docs/decisions.md), and a body keeps the app secret and tokens out of every URL.
        body = await self.request_json(
            "POST", f"{self._api}/oauth/access_token", data=form, idempotent=idempotent
        )
        return validated(TokenAnswer, body, what="Meta's token answer")

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        """Exchange the code, then swap the short-lived token for a ~60-day one."""
        app_id, secret = self._app()
        short = await self._token_exchange(
            {
                "client_id": app_id,
                "redirect_uri": redirect_uri,
                "client_secret": secret,
                "code": code,
            },
            idempotent=False,  # a code is single-use
        )
        return await self.refresh_token(refresh_token=short.access_token)

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        """Extend a still-valid token (`refresh_token` is the current access token).

        Meta has no refresh tokens and an expired token cannot be exchanged (AuthExpired).
        """
        app_id, secret = self._app()
        answer = await self._token_exchange(
            {
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": secret,
                "fb_exchange_token": refresh_token,
            },
            idempotent=True,
        )
        return TokenSet(
            access_token=answer.access_token,
            expires_at=expires_at(answer.expires_in),
            scopes=SCOPES.split(","),
        )

    # --- reads --------------------------------------------------------------------------------

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        rows = await self._paged(
            "me/adaccounts",
            access_token,
            fields="account_id,name,currency,timezone_name",
            limit=100,
        )
        accounts = [validated(AdAccount, row, what="A Meta ad account") for row in rows]
        return [
            PlatformAccount(
                external_id=account.account_id,
                name=account.name or f"act_{account.account_id}",
                currency=account.currency,
                timezone=account.timezone_name,
            )
            for account in accounts
        ]

    async def _currency(self, account_id: str, token: str) -> str:
        """The ad account's currency, asked of the account itself: never assumed.

        Asked once per adapter: an adapter lives for one sync or one action, and a sync's
        campaigns and insights would otherwise ask twice (a quarter of its calls).
        """
        key = _act(account_id)
        if key not in self._currencies:
            body = await self._get(key, token, fields="currency,timezone_name")
            found = validated(AccountCurrency, body, what=f"Meta ad account {account_id}")
            self._currencies[key] = found.currency
        return self._currencies[key]

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        currency = await self._currency(account_id, access_token)
        rows = await self._paged(
            f"{_act(account_id)}/campaigns", access_token, fields=_CAMPAIGN_FIELDS, limit=100
        )
        return [self._campaign(account_id, row, currency) for row in rows]

    @staticmethod
    def _campaign(account_id: str, row: JSON, currency: str) -> PlatformCampaign:
        campaign = validated(Campaign, row, what="A Meta campaign")
        status: PlatformStatus = _STATUS_IN.get(campaign.status, "DRAFT")  # type: ignore[assignment]
        daily, lifetime = campaign.daily_budget, campaign.lifetime_budget
        return PlatformCampaign(
            external_id=campaign.id,
            account_id=account_id.removeprefix("act_"),
            name=campaign.name,
            status=status,
            objective=campaign.objective,
            daily_budget=from_meta_minor(daily, currency) if daily is not None else None,
            lifetime_budget=from_meta_minor(lifetime, currency) if lifetime is not None else None,
            currency=currency,
        )

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        return await self._get_campaign(account_id, campaign_id, access_token)

    async def _get_campaign(
        self, account_id: str, campaign_id: str, token: str
    ) -> PlatformCampaign:
        currency = await self._currency(account_id, token)
        row = await self._get(campaign_id, token, fields=_CAMPAIGN_FIELDS)
        digits = _act(account_id).removeprefix("act_")
        if str(row.get("account_id") or digits) != digits:
            raise PlatformNotFound(f"Meta campaign {campaign_id} is not in {account_id}.")
        return self._campaign(account_id, row, currency)

    async def _metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        token: str,
        *,
        hourly: bool,
    ) -> list[MetricRow]:
        currency = await self._currency(account_id, token)
        params: dict[str, Any] = {
            "level": "campaign",
            "fields": "campaign_id,spend,impressions,clicks,actions,action_values",
            "time_range": json.dumps(
                {"since": start_date.isoformat(), "until": end_date.isoformat()}
            ),
            "time_increment": 1,
            "limit": 500,
        }
        if hourly:
            params["breakdowns"] = "hourly_stats_aggregated_by_advertiser_time_zone"
        if campaign_id is not None:
            params["filtering"] = json.dumps(
                [{"field": "campaign.id", "operator": "IN", "value": [campaign_id]}]
            )
        rows = await self._paged(f"{_act(account_id)}/insights", token, **params)
        return [self._metric_row(row, currency, hourly=hourly) for row in rows]

    @staticmethod
    def _metric_row(row: JSON, currency: str, *, hourly: bool) -> MetricRow:
        what = "A Meta insights row"
        insight: InsightsRow
        hour = None
        if hourly:
            by_hour = validated(HourlyInsightsRow, row, what=what)
            insight, hour = by_hour, by_hour.hour
        else:
            insight = validated(InsightsRow, row, what=what)
        conversions, value = insight.conversions()
        return MetricRow(
            campaign_external_id=insight.campaign_id,
            day=insight.date_start,
            hour=hour,
            impressions=insight.impressions,
            clicks=insight.clicks,
            spend=insight.spend,
            conversions=conversions,
            conversion_value=value,
            currency=currency,
        )

    # --- writes -------------------------------------------------------------------------------

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        currency = await self._currency(account_id, access_token)
        form: dict[str, Any] = {
            "name": draft.name,
            "objective": draft.objective or "OUTCOME_TRAFFIC",
            "status": "ACTIVE" if draft.status == "ACTIVE" else "PAUSED",
            "special_ad_categories": "[]",
        }
        if draft.daily_budget is not None:
            form["daily_budget"] = to_meta_minor(draft.daily_budget, currency)
        body = await self._post(
            f"{_act(account_id)}/campaigns", access_token, idempotent=False, **form
        )
        return await self._get_campaign(account_id, str(body["id"]), access_token)

    async def _update(self, campaign_id: str, token: str, **form: Any) -> None:
        body = await self._post(campaign_id, token, **form)
        if not body.get("success"):
            raise PlatformUnavailable(f"Meta did not confirm the change to {campaign_id}.")

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._update(campaign_id, access_token, status="PAUSED")
        return MutationResult(external_id=campaign_id, status="PAUSED")

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._update(campaign_id, access_token, status="ACTIVE")
        return MutationResult(external_id=campaign_id, status="ACTIVE")

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        campaign = await self._get_campaign(account_id, campaign_id, access_token)
        if campaign.daily_budget is None:
            raise InvalidRequest(
                f"Meta campaign {campaign_id} has no campaign budget; its ad sets hold it."
            )
        minor = to_meta_minor(daily_budget, campaign.currency)
        try:
            await self._update(campaign_id, access_token, daily_budget=minor)
        except MetaThrottled as exc:
            if exc.meta_code != 17:
                raise
            wait = max(exc.retry_after or 0.0, BUDGET_THROTTLE_WAIT)
            raise RateLimited(exc.message, retry_after=wait) from exc
        return MutationResult(
            external_id=campaign_id,
            daily_budget=from_meta_minor(minor, campaign.currency),
            raw={"daily_budget": minor},
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        form: dict[str, Any] = {}
        if changes.name is not None:
            form["name"] = changes.name
        if changes.status is not None:
            if changes.status not in ("ACTIVE", "PAUSED", "ARCHIVED"):
                raise InvalidRequest(f"Meta cannot set status {changes.status}.")
            form["status"] = changes.status
        if form:
            await self._update(campaign_id, access_token, **form)
        budget = None
        if changes.daily_budget is not None:
            result = await self.update_budget(
                account_id, campaign_id, changes.daily_budget, access_token=access_token
            )
            budget = result.daily_budget
        return MutationResult(external_id=campaign_id, status=changes.status, daily_budget=budget)
