"""TikTok Business API v1.3: the {code, message, data} envelope, where HTTP 200 can be an error."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters.base import JSON, HttpAdapter
from adapters.granularity import DailyAndHourlyMetrics
from adapters.money import exact_in_currency
from adapters.schemas import validated
from adapters.tiktok_errors import envelope_error
from adapters.tiktok_schemas import (
    REPORT_METRICS,
    AccessTokenData,
    AdvertiserInfo,
    AuthorizedAdvertiser,
    Campaign,
    DailyReportRow,
    HourlyReportRow,
)
from core.errors import (
    AuthExpired,
    InvalidRequest,
    PlatformNotFound,
    PlatformUnavailable,
)
from core.ports import (
    CampaignChanges,
    CampaignDraft,
    MetricRow,
    MutationResult,
    PlatformAccount,
    PlatformCampaign,
    PlatformStatus,
    TokenSet,
)

MAX_PAGES = 1000
PAGE_SIZE = 1000
_STATUS_IN = {"ENABLE": "ACTIVE", "DISABLE": "PAUSED", "DELETE": "ARCHIVED"}


class TikTokAdsAdapter(DailyAndHourlyMetrics, HttpAdapter):
    """The TikTok Business API; the token goes in the `Access-Token` header."""

    name = "tiktok"

    @property
    def _api(self) -> str:
        return f"{self.settings.tiktok_api_url.rstrip('/')}/open_api/v1.3"

    def raise_for_response(self, response: httpx.Response) -> None:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "code" in body and body.get("code") != 0:
            raise envelope_error(body, response)
        super().raise_for_response(response)

    async def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        idempotent: bool = True,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
    ) -> JSON:
        headers = {"Access-Token": token} if token else {}
        answer = await self.request_json(
            method,
            f"{self._api}/{path}",
            headers=headers,
            params=params,
            json=body,
            idempotent=idempotent,
        )
        return dict(answer.get("data") or {})

    async def _paged(self, path: str, token: str, params: dict[str, Any]) -> list[JSON]:
        """Every item of a `page_info` listing."""
        items: list[JSON] = []
        for page in range(1, MAX_PAGES + 1):
            data = await self._call(
                "GET", path, token, params={**params, "page": page, "page_size": PAGE_SIZE}
            )
            items.extend(data.get("list") or [])
            total_pages = int((data.get("page_info") or {}).get("total_page") or 1)
            if page >= total_pages:
                return items
        raise PlatformUnavailable(f"TikTok kept paging past {MAX_PAGES} pages.")

    # --- OAuth ------------------------------------------------------------------------------

    def _app(self) -> tuple[str, str]:
        if not self.settings.tiktok_app_id or self.settings.tiktok_app_secret is None:
            raise InvalidRequest("ADPILOT_TIKTOK_APP_ID and ADPILOT_TIKTOK_APP_SECRET must be set.")
        return self.settings.tiktok_app_id, self.settings.tiktok_app_secret.get_secret_value()

    def authorization_url(self, *, state: str, redirect_uri: str) -> str:
        app_id, _ = self._app()
        query = {"app_id": app_id, "state": state, "redirect_uri": redirect_uri}
        return f"{self.settings.tiktok_oauth_authorize_url}?{urlencode(query)}"

    async def authenticate(self, *, code: str, redirect_uri: str) -> TokenSet:
        """Exchange the 10-minute `auth_code`; advertiser tokens are long-term."""
        app_id, secret = self._app()
        data = await self._call(
            "POST",
            "oauth2/access_token/",
            None,
            idempotent=False,
            body={"app_id": app_id, "secret": secret, "auth_code": code},
        )
        answer = validated(AccessTokenData, data, what="TikTok's token answer")
        return TokenSet(
            access_token=answer.access_token, scopes=[str(item) for item in answer.scope]
        )

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        raise AuthExpired("TikTok advertiser tokens cannot be refreshed; reconnect the account.")

    # --- reads --------------------------------------------------------------------------------

    async def _advertisers(self, ids: list[str], token: str) -> list[AdvertiserInfo]:
        data = await self._call(
            "GET",
            "advertiser/info/",
            token,
            params={
                "advertiser_ids": json.dumps(ids),
                "fields": json.dumps(["advertiser_id", "name", "currency", "timezone"]),
            },
        )
        return [
            validated(AdvertiserInfo, item, what="A TikTok advertiser")
            for item in data.get("list") or []
        ]

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        app_id, secret = self._app()
        # This endpoint takes the app secret only as a query parameter (GET, no body in the
        # SDK or the docs); nothing logs its URL (core.logging_setup, docs/decisions.md).
        data = await self._call(
            "GET",
            "oauth2/advertiser/get/",
            access_token,
            params={"app_id": app_id, "secret": secret},
        )
        ids = [
            validated(
                AuthorizedAdvertiser, item, what="A TikTok authorized advertiser"
            ).advertiser_id
            for item in data.get("list") or []
        ]
        accounts: list[PlatformAccount] = []
        for start in range(0, len(ids), 100):  # advertiser/info takes at most 100 ids
            for info in await self._advertisers(ids[start : start + 100], access_token):
                accounts.append(
                    PlatformAccount(
                        external_id=info.advertiser_id,
                        name=info.name or info.advertiser_id,
                        currency=info.currency,
                        timezone=info.timezone,
                    )
                )
        return accounts

    async def _currency(self, account_id: str, token: str) -> str:
        infos = await self._advertisers([account_id], token)
        if not infos:
            raise PlatformNotFound(f"No TikTok advertiser {account_id}.")
        return infos[0].currency

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        return await self._campaigns(account_id, access_token)

    async def _campaigns(
        self, account_id: str, token: str, *, ids: list[str] | None = None
    ) -> list[PlatformCampaign]:
        currency = await self._currency(account_id, token)
        params: dict[str, Any] = {"advertiser_id": account_id}
        if ids:
            params["filtering"] = json.dumps({"campaign_ids": ids})
        rows = await self._paged("campaign/get/", token, params)
        return [self._campaign(account_id, row, currency) for row in rows]

    @staticmethod
    def _campaign(account_id: str, row: JSON, currency: str) -> PlatformCampaign:
        campaign = validated(Campaign, row, what="A TikTok campaign")
        status: PlatformStatus = _STATUS_IN.get(campaign.operation_status, "DRAFT")  # type: ignore[assignment]
        budget, mode = campaign.budget, campaign.budget_mode
        has_budget = budget is not None and budget != 0 and mode != "BUDGET_MODE_INFINITE"
        amount = budget if has_budget else None
        return PlatformCampaign(
            external_id=campaign.campaign_id,
            account_id=account_id,
            name=campaign.campaign_name,
            status=status,
            objective=campaign.objective_type,
            daily_budget=amount if mode == "BUDGET_MODE_DAY" else None,
            lifetime_budget=amount if mode == "BUDGET_MODE_TOTAL" else None,
            currency=currency,
        )

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        return await self._get_campaign(account_id, campaign_id, access_token)

    async def _get_campaign(
        self, account_id: str, campaign_id: str, token: str
    ) -> PlatformCampaign:
        found = await self._campaigns(account_id, token, ids=[campaign_id])
        for campaign in found:
            if campaign.external_id == campaign_id:
                return campaign
        raise PlatformNotFound(f"No TikTok campaign {campaign_id} in {account_id}.")

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
        time_dimension = "stat_time_hour" if hourly else "stat_time_day"
        params: dict[str, Any] = {
            "advertiser_id": account_id,
            "report_type": "BASIC",
            "data_level": "AUCTION_CAMPAIGN",
            "dimensions": json.dumps(["campaign_id", time_dimension]),
            "metrics": json.dumps(REPORT_METRICS),
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
        if campaign_id is not None:
            params["filtering"] = json.dumps(
                [
                    {
                        "field_name": "campaign_ids",
                        "filter_type": "IN",
                        "filter_value": json.dumps([campaign_id]),
                    }
                ]
            )
        rows = await self._paged("report/integrated/get/", token, params)
        return [self._metric_row(row, currency, hourly=hourly) for row in rows]

    @staticmethod
    def _metric_row(row: JSON, currency: str, *, hourly: bool) -> MetricRow:
        what = "A TikTok report row"
        if hourly:
            by_hour = validated(HourlyReportRow, row, what=what)
            campaign_id, stamp = by_hour.dimensions.campaign_id, by_hour.dimensions.stat_time_hour
            metrics = by_hour.metrics
        else:
            by_day = validated(DailyReportRow, row, what=what)
            campaign_id, stamp = by_day.dimensions.campaign_id, by_day.dimensions.stat_time_day
            metrics = by_day.metrics
        return MetricRow(
            campaign_external_id=campaign_id,
            day=stamp.date(),
            hour=stamp.hour if hourly else None,
            impressions=metrics.impressions,
            clicks=metrics.clicks,
            spend=metrics.spend,
            conversions=metrics.conversion,
            conversion_value=metrics.purchase_value,
            currency=currency,
        )

    # --- writes -------------------------------------------------------------------------------

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        body: JSON = {
            "advertiser_id": account_id,
            "campaign_name": draft.name,
            "objective_type": draft.objective or "TRAFFIC",
            "operation_status": "ENABLE" if draft.status == "ACTIVE" else "DISABLE",
            "budget_mode": "BUDGET_MODE_INFINITE",
        }
        if draft.daily_budget is not None:
            currency = await self._currency(account_id, access_token)
            amount = exact_in_currency(draft.daily_budget, currency)
            body.update(budget_mode="BUDGET_MODE_DAY", budget=float(amount))
        data = await self._call(
            "POST", "campaign/create/", access_token, idempotent=False, body=body
        )
        return await self._get_campaign(account_id, str(data["campaign_id"]), access_token)

    async def _set_status(
        self, account_id: str, campaign_id: str, operation: str, token: str
    ) -> None:
        data = await self._call(
            "POST",
            "campaign/status/update/",
            token,
            body={
                "advertiser_id": account_id,
                "campaign_ids": [campaign_id],
                "operation_status": operation,
            },
        )
        # The call answers code 0 with only the ids it changed; a missing id failed.
        if campaign_id not in [str(item) for item in data.get("campaign_ids") or []]:
            raise PlatformNotFound(f"TikTok did not update campaign {campaign_id}.")

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._set_status(account_id, campaign_id, "DISABLE", access_token)
        return MutationResult(external_id=campaign_id, status="PAUSED")

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._set_status(account_id, campaign_id, "ENABLE", access_token)
        return MutationResult(external_id=campaign_id, status="ACTIVE")

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        campaign = await self._get_campaign(account_id, campaign_id, access_token)
        amount = exact_in_currency(daily_budget, campaign.currency)
        # TikTok takes a float in major units; a value with at most 3 decimals survives
        # float() exactly in its shortest repr, which is what json.dumps writes.
        await self._call(
            "POST",
            "campaign/update/",
            access_token,
            body={"advertiser_id": account_id, "campaign_id": campaign_id, "budget": float(amount)},
        )
        return MutationResult(
            external_id=campaign_id, daily_budget=amount, raw={"budget": str(amount)}
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        if changes.name is not None:
            await self._call(
                "POST",
                "campaign/update/",
                access_token,
                body={
                    "advertiser_id": account_id,
                    "campaign_id": campaign_id,
                    "campaign_name": changes.name,
                },
            )
        if changes.status is not None:
            operations = {"ACTIVE": "ENABLE", "PAUSED": "DISABLE", "ARCHIVED": "DELETE"}
            if changes.status not in operations:
                raise InvalidRequest(f"TikTok cannot set status {changes.status}.")
            await self._set_status(
                account_id, campaign_id, operations[changes.status], access_token
            )
        budget = None
        if changes.daily_budget is not None:
            result = await self.update_budget(
                account_id, campaign_id, changes.daily_budget, access_token=access_token
            )
            budget = result.daily_budget
        return MutationResult(external_id=campaign_id, status=changes.status, daily_budget=budget)
