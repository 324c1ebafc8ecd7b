"""Google Ads API over REST: OAuth, GAQL searchStream (money in micros) and mutates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters import google_schemas as rows
from adapters.base import JSON, HttpAdapter, expires_at
from adapters.google_errors import oauth_error, status_error
from adapters.granularity import DailyAndHourlyMetrics
from adapters.money import exact_in_currency, from_micros, to_micros
from adapters.revocation import revoke_google
from adapters.schemas import validated
from core.errors import (
    InvalidRequest,
    PlatformNotFound,
    PlatformPermissionDenied,
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

SCOPE = "https://www.googleapis.com/auth/adwords"
_STATUS_IN = {"ENABLED": "ACTIVE", "PAUSED": "PAUSED", "REMOVED": "ARCHIVED"}
_STATUS_OUT = {"ACTIVE": "ENABLED", "PAUSED": "PAUSED", "ARCHIVED": "REMOVED"}
_CAMPAIGN_FIELDS = (
    "customer.currency_code, campaign.id, campaign.name, campaign.status, "
    "campaign.advertising_channel_type, campaign.campaign_budget, campaign_budget.amount_micros"
)
_METRIC_FIELDS = (
    "customer.currency_code, campaign.id, segments.date, metrics.cost_micros, metrics.clicks, "
    "metrics.impressions, metrics.conversions, metrics.conversions_value"
)


def _digits(customer_id: str) -> str:
    digits = customer_id.replace("-", "").removeprefix("customers/")
    if not digits.isdigit():
        raise InvalidRequest(f"Not a Google Ads customer id: {customer_id!r}.")
    return digits


class GoogleAdsAdapter(DailyAndHourlyMetrics, HttpAdapter):
    """The Google Ads REST API (version and base URL from settings)."""

    name = "google"
    # Google takes PKCE (S256) on its web-server flow; Meta documents it only for its OIDC login
    # (in testing) and TikTok's business auth not at all (docs/decisions.md).
    supports_pkce = True

    @property
    def _api(self) -> str:
        base = self.settings.google_ads_api_url.rstrip("/")
        return f"{base}/{self.settings.google_ads_api_version}"

    def raise_for_response(self, response: httpx.Response) -> None:
        if response.is_success:
            self._raise_partial_failure(response)
            return
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, list) and body:  # searchStream wraps its error in an array
            body = body[-1]
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise status_error(body["error"], response.status_code)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            raise oauth_error(body, response.status_code)
        super().raise_for_response(response)

    def _raise_partial_failure(self, response: httpx.Response) -> None:
        if not response.content:
            return
        try:
            body: Any = response.json()
        except ValueError:
            return
        if isinstance(body, dict) and body.get("partialFailureError"):
            raise status_error(body["partialFailureError"], 400)
        if isinstance(body, list):  # an error that broke a stream midway
            for batch in body:
                if isinstance(batch, dict) and isinstance(batch.get("error"), dict):
                    raise status_error(batch["error"], int(batch["error"].get("code") or 500))

    def _headers(self, access_token: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {access_token}"}
        if self.settings.google_developer_token is not None:
            headers["developer-token"] = self.settings.google_developer_token.get_secret_value()
        if self.settings.google_login_customer_id:
            headers["login-customer-id"] = _digits(self.settings.google_login_customer_id)
        return headers

    # --- OAuth ------------------------------------------------------------------------------

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None = None
    ) -> str:
        """Google's consent URL; with `code_challenge` (S256) the code needs its verifier."""
        query = {
            "client_id": self._client_id(),
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "access_type": "offline",
            "prompt": "consent",
            "state": state,
        }
        if code_challenge is not None:
            query |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{self.settings.google_oauth_authorize_url}?{urlencode(query)}"

    def _client_id(self) -> str:
        if not self.settings.google_client_id:
            raise InvalidRequest("ADPILOT_GOOGLE_CLIENT_ID is not set.")
        return self.settings.google_client_id

    def _client_secret(self) -> str:
        if self.settings.google_client_secret is None:
            raise InvalidRequest("ADPILOT_GOOGLE_CLIENT_SECRET is not set.")
        return self.settings.google_client_secret.get_secret_value()

    async def authenticate(
        self, *, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token(form)

    async def refresh_token(self, *, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke_tokens(self, tokens: TokenSet) -> RevokeAnswer:
        return await revoke_google(self, tokens)

    async def _token(self, form: dict[str, str]) -> TokenSet:
        form = {**form, "client_id": self._client_id(), "client_secret": self._client_secret()}
        body = await self.request_json("POST", self.settings.google_oauth_token_url, data=form)
        answer = validated(rows.TokenAnswer, body, what="Google's token answer")
        return TokenSet(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            expires_at=expires_at(answer.expires_in),
            scopes=answer.scope.split(),
        )

    # --- reads --------------------------------------------------------------------------------

    async def search(self, customer_id: str, query: str, *, access_token: str) -> list[JSON]:
        """Every row of a GAQL query, across the searchStream batches."""
        url = f"{self._api}/customers/{_digits(customer_id)}/googleAds:searchStream"
        batches = await self.request_json(
            "POST", url, json={"query": query}, headers=self._headers(access_token)
        )
        rows: list[JSON] = []
        for batch in batches or []:
            rows.extend(batch.get("results") or [])
        return rows

    async def list_accounts(self, *, access_token: str) -> list[PlatformAccount]:
        url = f"{self._api}/customers:listAccessibleCustomers"
        body = await self.request_json("GET", url, headers=self._headers(access_token))
        accounts: list[PlatformAccount] = []
        for resource in body.get("resourceNames") or []:
            customer_id = _digits(resource)
            query = (
                "SELECT customer.id, customer.descriptive_name, customer.currency_code, "
                "customer.time_zone, customer.manager FROM customer"
            )
            try:
                found = await self.search(customer_id, query, access_token=access_token)
            except (PlatformPermissionDenied, PlatformNotFound):
                continue  # listed but unreachable without a manager; the rest still work
            for row in found:
                customer = validated(rows.CustomerRow, row, what="A Google Ads customer").customer
                if customer.manager:
                    continue
                accounts.append(
                    PlatformAccount(
                        external_id=customer.id,
                        name=customer.descriptive_name or customer.id,
                        currency=customer.currency_code,
                        timezone=customer.time_zone,
                    )
                )
        return accounts

    async def list_campaigns(self, account_id: str, *, access_token: str) -> list[PlatformCampaign]:
        query = f"SELECT {_CAMPAIGN_FIELDS} FROM campaign WHERE campaign.status != 'REMOVED'"  # noqa: S608
        found = await self.search(account_id, query, access_token=access_token)
        return [self._campaign(account_id, row) for row in found]

    async def get_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> PlatformCampaign:
        row = await self._get_campaign_row(account_id, campaign_id, access_token)
        return self._campaign(account_id, row)

    async def _get_campaign_row(
        self, account_id: str, campaign_id: str, token: str
    ) -> rows.CampaignRow:
        if not campaign_id.isdigit():
            raise PlatformNotFound(f"No Google Ads campaign {campaign_id!r}.")
        # GAQL, not SQL: only a digits-checked id is interpolated.
        query = f"SELECT {_CAMPAIGN_FIELDS} FROM campaign WHERE campaign.id = {campaign_id}"  # noqa: S608
        found = await self.search(account_id, query, access_token=token)
        if not found:
            raise PlatformNotFound(f"No Google Ads campaign {campaign_id} in {account_id}.")
        return validated(rows.CampaignRow, found[0], what="A Google Ads campaign")

    def _campaign(self, account_id: str, row: JSON | rows.CampaignRow) -> PlatformCampaign:
        if not isinstance(row, rows.CampaignRow):
            row = validated(rows.CampaignRow, row, what="A Google Ads campaign")
        campaign = row.campaign
        status: PlatformStatus = _STATUS_IN.get(campaign.status, "DRAFT")  # type: ignore[assignment]
        amount = row.campaign_budget.amount_micros
        return PlatformCampaign(
            external_id=campaign.id,
            account_id=_digits(account_id),
            name=campaign.name,
            status=status,
            objective=campaign.advertising_channel_type,
            daily_budget=from_micros(amount) if amount is not None else None,
            currency=row.customer.currency_code,
        )

    async def _metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
        *,
        hourly: bool,
    ) -> list[MetricRow]:
        fields = _METRIC_FIELDS + (", segments.hour" if hourly else "")
        where = [
            f"segments.date BETWEEN '{start_date.isoformat()}' AND '{end_date.isoformat()}'",
            "campaign.status != 'REMOVED'",
        ]
        if campaign_id is not None:
            if not campaign_id.isdigit():
                raise PlatformNotFound(f"No Google Ads campaign {campaign_id!r}.")
            where.append(f"campaign.id = {campaign_id}")
        query = f"SELECT {fields} FROM campaign WHERE {' AND '.join(where)}"  # noqa: S608
        found = await self.search(account_id, query, access_token=access_token)
        return [self._metric_row(row, hourly=hourly) for row in found]

    @staticmethod
    def _metric_row(row: JSON, *, hourly: bool) -> MetricRow:
        what = "A Google Ads metrics row"
        parsed: rows.MetricRow
        hour = None
        if hourly:
            by_hour = validated(rows.HourlyMetricRow, row, what=what)
            parsed, hour = by_hour, by_hour.segments.hour
        else:
            parsed = validated(rows.MetricRow, row, what=what)
        metrics = parsed.metrics
        return MetricRow(
            campaign_external_id=parsed.campaign.id,
            day=parsed.segments.date,
            hour=hour,
            impressions=metrics.impressions,
            clicks=metrics.clicks,
            spend=from_micros(metrics.cost_micros),
            conversions=metrics.conversions,
            conversion_value=metrics.conversions_value,
            currency=parsed.customer.currency_code,
        )

    # --- writes -------------------------------------------------------------------------------

    async def _mutate(
        self, account_id: str, service: str, operation: JSON, *, access_token: str
    ) -> str:
        url = f"{self._api}/customers/{_digits(account_id)}/{service}:mutate"
        body = {"operations": [operation], "partialFailure": True, "validateOnly": False}
        answer = await self.request_json(
            "POST",
            url,
            json=body,
            headers=self._headers(access_token),
            idempotent="create" not in operation,
        )
        results = answer.get("results") or [{}]
        return str(results[0].get("resourceName") or "")

    async def create_campaign(
        self, account_id: str, draft: CampaignDraft, *, access_token: str
    ) -> PlatformCampaign:
        if draft.daily_budget is None:
            raise InvalidRequest("Google Ads campaigns need a daily budget.")
        customer = _digits(account_id)
        budget_resource = await self._mutate(
            customer,
            "campaignBudgets",
            {
                "create": {
                    "name": f"{draft.name} budget",
                    "deliveryMethod": "STANDARD",
                    "explicitlyShared": False,
                    "amountMicros": str(to_micros(draft.daily_budget)),
                }
            },
            access_token=access_token,
        )
        status = _STATUS_OUT.get(draft.status, "PAUSED")
        resource = await self._mutate(
            customer,
            "campaigns",
            {
                "create": {
                    "name": draft.name,
                    "status": status,
                    "advertisingChannelType": draft.objective or "SEARCH",
                    "campaignBudget": budget_resource,
                    "manualCpc": {},
                }
            },
            access_token=access_token,
        )
        row = await self._get_campaign_row(customer, resource.rsplit("/", 1)[-1], access_token)
        return self._campaign(customer, row)

    async def _set_campaign(
        self, account_id: str, campaign_id: str, fields: JSON, *, access_token: str
    ) -> None:
        customer = _digits(account_id)
        update = {"resourceName": f"customers/{customer}/campaigns/{campaign_id}", **fields}
        operation = {"updateMask": ",".join(sorted(fields)), "update": update}
        await self._mutate(customer, "campaigns", operation, access_token=access_token)

    async def pause_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._set_campaign(
            account_id, campaign_id, {"status": "PAUSED"}, access_token=access_token
        )
        return MutationResult(external_id=campaign_id, status="PAUSED")

    async def resume_campaign(
        self, account_id: str, campaign_id: str, *, access_token: str
    ) -> MutationResult:
        await self._set_campaign(
            account_id, campaign_id, {"status": "ENABLED"}, access_token=access_token
        )
        return MutationResult(external_id=campaign_id, status="ACTIVE")

    async def update_budget(
        self, account_id: str, campaign_id: str, daily_budget: Decimal, *, access_token: str
    ) -> MutationResult:
        row = await self._get_campaign_row(account_id, campaign_id, access_token)
        amount = exact_in_currency(daily_budget, row.customer.currency_code)
        budget_resource = row.campaign.campaign_budget
        if not budget_resource:
            raise InvalidRequest(f"Google Ads campaign {campaign_id} has no campaign budget.")
        operation = {
            "updateMask": "amount_micros",
            "update": {"resourceName": budget_resource, "amountMicros": str(to_micros(amount))},
        }
        await self._mutate(account_id, "campaignBudgets", operation, access_token=access_token)
        return MutationResult(
            external_id=campaign_id, daily_budget=amount, raw={"budget": budget_resource}
        )

    async def update_campaign(
        self, account_id: str, campaign_id: str, changes: CampaignChanges, *, access_token: str
    ) -> MutationResult:
        fields: JSON = {}
        if changes.name is not None:
            fields["name"] = changes.name
        if changes.status is not None:
            if changes.status not in _STATUS_OUT:
                raise InvalidRequest(f"Google Ads cannot set status {changes.status}.")
            fields["status"] = _STATUS_OUT[changes.status]
        if fields:
            await self._set_campaign(account_id, campaign_id, fields, access_token=access_token)
        budget = None
        if changes.daily_budget is not None:
            result = await self.update_budget(
                account_id, campaign_id, changes.daily_budget, access_token=access_token
            )
            budget = result.daily_budget
        return MutationResult(external_id=campaign_id, status=changes.status, daily_budget=budget)
