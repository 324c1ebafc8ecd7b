"""Daily and hourly metrics through one method: what every adapter's reporting shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date

from core.ports import MetricRow


class DailyAndHourlyMetrics(ABC):
    """`get_metrics` (the port) and `get_hourly_metrics` over one `_metrics(..., hourly)`."""

    async def get_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]:
        return await self._metrics(
            account_id, campaign_id, start_date, end_date, access_token, hourly=False
        )

    async def get_hourly_metrics(
        self,
        account_id: str,
        campaign_id: str | None,
        start_date: date,
        end_date: date,
        access_token: str,
    ) -> list[MetricRow]:
        return await self._metrics(
            account_id, campaign_id, start_date, end_date, access_token, hourly=True
        )

    @abstractmethod
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
        """Rows of one day (hourly=False) or one hour each, in the account's timezone."""
