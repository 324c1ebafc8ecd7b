"""In-memory fakes of the Google, Meta and TikTok APIs, served through respx.

Each fake keeps accounts, campaigns and budgets in dicts and answers with the documented
payload shapes, so the real adapters run unchanged against them (the contract test).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import respx

GOOGLE = "https://googleads.googleapis.com/v26"
META = "https://graph.facebook.com/v25.0"
TIKTOK = "https://business-api.tiktok.com/open_api/v1.3"


def _days(start: str, end: str) -> list[date]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass
class FakeGoogle:
    customer: str = "1234567890"
    currency: str = "USD"
    campaigns: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "111": {"name": "Brand", "status": "ENABLED", "budget": "901"},
            "222": {"name": "Generic", "status": "ENABLED", "budget": "902"},
        }
    )
    budgets: dict[str, str] = field(default_factory=lambda: {"901": "50000000", "902": "20000000"})
    mutations: list[dict[str, Any]] = field(default_factory=list)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{GOOGLE}/customers:listAccessibleCustomers").mock(
            return_value=httpx.Response(200, json={"resourceNames": [f"customers/{self.customer}"]})
        )
        base = f"{GOOGLE}/customers/{self.customer}"
        router.post(f"{base}/googleAds:searchStream").mock(side_effect=self._search)
        router.post(f"{base}/campaigns:mutate").mock(side_effect=self._mutate_campaign)
        router.post(f"{base}/campaignBudgets:mutate").mock(side_effect=self._mutate_budget)

    def _campaign_row(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaigns[campaign_id]
        budget_resource = f"customers/{self.customer}/campaignBudgets/{campaign['budget']}"
        return {
            "customer": {
                "resourceName": f"customers/{self.customer}",
                "currencyCode": self.currency,
            },
            "campaign": {
                "resourceName": f"customers/{self.customer}/campaigns/{campaign_id}",
                "id": campaign_id,
                "name": campaign["name"],
                "status": campaign["status"],
                "advertisingChannelType": "SEARCH",
                "campaignBudget": budget_resource,
            },
            "campaignBudget": {
                "resourceName": budget_resource,
                "amountMicros": self.budgets[campaign["budget"]],
            },
        }

    def _search(self, request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        wanted = re.search(r"campaign\.id = (\d+)", query)
        ids = [wanted.group(1)] if wanted else sorted(self.campaigns)
        ids = [cid for cid in ids if cid in self.campaigns]
        if "FROM customer" in query:
            results = [
                {
                    "customer": {
                        "id": self.customer,
                        "descriptiveName": "Acme",
                        "currencyCode": self.currency,
                        "timeZone": "America/New_York",
                        "manager": False,
                    }
                }
            ]
        elif "segments.date" in query:
            start, end = re.findall(r"'(\d{4}-\d{2}-\d{2})'", query)[:2]
            results = [
                {
                    "customer": {"currencyCode": self.currency},
                    "campaign": {"id": cid},
                    "segments": {"date": day.isoformat()},
                    "metrics": {
                        "costMicros": "12345678",
                        "clicks": "40",
                        "impressions": "1500",
                        "conversions": 3.0,
                        "conversionsValue": 150.5,
                    },
                }
                for cid in ids
                if self.campaigns[cid]["status"] == "ENABLED"
                for day in _days(start, end)
            ]
        else:
            results = [self._campaign_row(cid) for cid in ids]
        batch = {"results": results, "fieldMask": "campaign.id", "requestId": "req-1"}
        return httpx.Response(200, json=[batch] if results else [])

    def _mutate_campaign(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.mutations.append(body)
        results = []
        for operation in body["operations"]:
            update = operation["update"]
            campaign_id = update["resourceName"].rsplit("/", 1)[-1]
            for key in operation["updateMask"].split(","):
                self.campaigns[campaign_id][key] = update[key]
            results.append({"resourceName": update["resourceName"]})
        return httpx.Response(200, json={"results": results})

    def _mutate_budget(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.mutations.append(body)
        update = body["operations"][0]["update"]
        self.budgets[update["resourceName"].rsplit("/", 1)[-1]] = update["amountMicros"]
        return httpx.Response(200, json={"results": [{"resourceName": update["resourceName"]}]})


@dataclass
class FakeMeta:
    account: str = "555"
    currency: str = "USD"
    campaigns: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "6001": {"name": "Prospecting", "status": "ACTIVE", "daily_budget": "5000"},
            "6002": {"name": "Retargeting", "status": "ACTIVE", "daily_budget": "1999"},
        }
    )
    posts: list[dict[str, list[str]]] = field(default_factory=list)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{META}/me/adaccounts").mock(
            return_value=httpx.Response(
                200,
                json={
                    "data": [
                        {
                            "id": f"act_{self.account}",
                            "account_id": self.account,
                            "name": "Acme",
                            "currency": self.currency,
                            "timezone_name": "Europe/Berlin",
                        }
                    ],
                    "paging": {"cursors": {"before": "b", "after": "a"}},
                },
            )
        )
        router.get(f"{META}/act_{self.account}").mock(
            return_value=httpx.Response(
                200,
                json={
                    "currency": self.currency,
                    "timezone_name": "Europe/Berlin",
                    "id": f"act_{self.account}",
                },
            )
        )
        router.get(f"{META}/act_{self.account}/campaigns").mock(side_effect=self._list)
        router.get(f"{META}/act_{self.account}/insights").mock(side_effect=self._insights)
        router.get(url__regex=rf"{re.escape(META)}/(\d+)(\?|$)").mock(side_effect=self._get_one)
        router.post(url__regex=rf"{re.escape(META)}/(\d+)(\?|$)").mock(side_effect=self._update)

    def _row(self, campaign_id: str) -> dict[str, Any]:
        return {
            "id": campaign_id,
            "account_id": self.account,
            "objective": "OUTCOME_SALES",
            **self.campaigns[campaign_id],
        }

    def _list(self, request: httpx.Request) -> httpx.Response:
        # One campaign per page, so every listing exercises cursor paging.
        ids = sorted(self.campaigns)
        after = request.url.params.get("after")
        index = ids.index(after) + 1 if after else 0
        body: dict[str, Any] = {"data": [self._row(ids[index])]}
        cursors = {"before": ids[index], "after": ids[index]}
        body["paging"] = {"cursors": cursors}
        if index + 1 < len(ids):
            body["paging"]["next"] = f"{META}/act_{self.account}/campaigns?after={ids[index]}"
        return httpx.Response(200, json=body)

    def _get_one(self, request: httpx.Request) -> httpx.Response:
        campaign_id = request.url.path.rsplit("/", 1)[-1]
        if campaign_id not in self.campaigns:
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Unsupported get request.",
                        "type": "GraphMethodException",
                        "code": 100,
                        "error_subcode": 33,
                        "fbtrace_id": "x",
                    }
                },
            )
        return httpx.Response(200, json=self._row(campaign_id))

    def _update(self, request: httpx.Request) -> httpx.Response:
        campaign_id = request.url.path.rsplit("/", 1)[-1]
        form = parse_qs(request.content.decode())
        self.posts.append(form)
        for key, values in form.items():
            self.campaigns[campaign_id][key] = values[0]
        return httpx.Response(200, json={"success": True})

    def _insights(self, request: httpx.Request) -> httpx.Response:
        span = json.loads(request.url.params["time_range"])
        wanted = sorted(self.campaigns)
        if "filtering" in request.url.params:
            wanted = json.loads(request.url.params["filtering"])[0]["value"]
        rows = [
            {
                "campaign_id": cid,
                "account_currency": self.currency,
                "spend": "19.99",
                "impressions": "1200",
                "clicks": "30",
                "actions": [
                    {"action_type": "link_click", "value": "30"},
                    {"action_type": "purchase", "value": "2"},
                ],
                "action_values": [{"action_type": "purchase", "value": "80.5"}],
                "date_start": day.isoformat(),
                "date_stop": day.isoformat(),
            }
            for cid in wanted
            if self.campaigns[cid]["status"] == "ACTIVE"
            for day in _days(span["since"], span["until"])
        ]
        return httpx.Response(
            200, json={"data": rows, "paging": {"cursors": {"before": "x", "after": "y"}}}
        )


# TikTok report figures per campaign and day (strings, as the API sends them); "-" is how
# TikTok writes "no data" (here: no app purchases tracked).
REPORT_FIGURES = {
    "spend": "12.34",
    "impressions": "900",
    "clicks": "21",
    "conversion": "2",
    "ctr": "2.33",
    "cpc": "0.59",
    "cpm": "13.71",
    "cost_per_conversion": "6.17",
    "complete_payment": "2",
    "total_complete_payment_rate": "61.70",
    "complete_payment_roas": "5.00",
    "total_purchase_value": "-",
}


@dataclass
class FakeTikTok:
    advertiser: str = "7000001"
    currency: str = "USD"
    campaigns: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "1800001": {"campaign_name": "Spark", "operation_status": "ENABLE", "budget": 50.0},
            "1800002": {"campaign_name": "Video", "operation_status": "ENABLE", "budget": 20.5},
        }
    )
    posts: list[dict[str, Any]] = field(default_factory=list)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{TIKTOK}/oauth2/advertiser/get/").mock(
            return_value=self._ok(
                {"list": [{"advertiser_id": self.advertiser, "advertiser_name": "Acme"}]}
            )
        )
        router.get(f"{TIKTOK}/advertiser/info/").mock(
            return_value=self._ok(
                {
                    "list": [
                        {
                            "advertiser_id": self.advertiser,
                            "name": "Acme",
                            "currency": self.currency,
                            "timezone": "Asia/Singapore",
                        }
                    ]
                }
            )
        )
        router.get(f"{TIKTOK}/campaign/get/").mock(side_effect=self._list)
        router.get(f"{TIKTOK}/report/integrated/get/").mock(side_effect=self._report)
        router.post(f"{TIKTOK}/campaign/status/update/").mock(side_effect=self._status)
        router.post(f"{TIKTOK}/campaign/update/").mock(side_effect=self._update)

    @staticmethod
    def _ok(data: dict[str, Any]) -> httpx.Response:
        return httpx.Response(
            200, json={"code": 0, "message": "OK", "request_id": "r1", "data": data}
        )

    def _list(self, request: httpx.Request) -> httpx.Response:
        ids = sorted(self.campaigns)
        filtering = request.url.params.get("filtering")
        if filtering:
            ids = [cid for cid in json.loads(filtering)["campaign_ids"] if cid in self.campaigns]
        rows = [
            {
                "campaign_id": cid,
                "advertiser_id": self.advertiser,
                "objective_type": "TRAFFIC",
                "budget_mode": "BUDGET_MODE_DAY",
                **self.campaigns[cid],
            }
            for cid in ids
        ]
        page = int(request.url.params.get("page", "1"))
        # One row per page: listings always walk page_info.
        chunk = rows[page - 1 : page]
        return self._ok(
            {
                "list": chunk,
                "page_info": {
                    "page": page,
                    "page_size": 1,
                    "total_number": len(rows),
                    "total_page": max(len(rows), 1),
                },
            }
        )

    def _report(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        requested = json.loads(params["metrics"])
        unknown = sorted(set(requested) - set(REPORT_FIGURES))
        if unknown:
            # What TikTok answers to a metric name it does not know (HTTP 200, code 40002).
            return httpx.Response(
                200,
                json={
                    "code": 40002,
                    "message": f"metrics: Invalid metric field(s): {unknown}",
                    "request_id": "r2",
                    "data": {},
                },
            )
        wanted = sorted(self.campaigns)
        if "filtering" in params:
            wanted = json.loads(json.loads(params["filtering"])[0]["filter_value"])
        rows = [
            {
                "dimensions": {"campaign_id": cid, "stat_time_day": f"{day.isoformat()} 00:00:00"},
                # Only what was asked for comes back, as strings, like the real report.
                "metrics": {name: REPORT_FIGURES[name] for name in requested},
            }
            for cid in wanted
            if self.campaigns[cid]["operation_status"] == "ENABLE"
            for day in _days(params["start_date"], params["end_date"])
        ]
        return self._ok(
            {
                "list": rows,
                "page_info": {
                    "page": 1,
                    "page_size": 1000,
                    "total_number": len(rows),
                    "total_page": 1,
                },
            }
        )

    def _status(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.posts.append(body)
        status = body["operation_status"]
        for cid in body["campaign_ids"]:
            self.campaigns[cid]["operation_status"] = status
        return self._ok({"campaign_ids": body["campaign_ids"]})

    def _update(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.posts.append(body)
        self.campaigns[body["campaign_id"]]["budget"] = body["budget"]
        return self._ok({"campaign_id": body["campaign_id"]})
