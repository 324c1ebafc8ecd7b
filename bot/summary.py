"""The daily summary as words, a table and a chart, and as the outbox payload that carries them.

Payload (Notification.payload, kind "summary"): `text` (headline, narrative or plain lines),
`table` (columns and rows), `plain_text` (everything as text, for text-only channels) and
`chart` (`png_base64`, `alt_text`, `filename`). The PNG rides base64 in the row itself: it is a
few kilobytes, and the delivery job then needs no file storage to send it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from bot import charts
from bot.replies import Chart, Reply, Table
from bot.reports import money
from core.metrics.kpis import Totals
from core.metrics.schemas import delta
from core.summaries.schemas import AVERAGE_DAYS, DailySummary

TABLE_COLUMNS = ["platform", "spend", "vs day before", f"vs {AVERAGE_DAYS}-day avg", "conv.", "CPA"]


def _percent(current: Decimal | None, previous: Decimal | None) -> Decimal | None:
    change = delta(current, previous).percent
    return None if change is None else change.quantize(Decimal("0.1"))


def _pct_text(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:+.1f}%"


def _total(summary: DailySummary, which: str) -> Totals:
    """All platforms added up, for `which` of yesterday, day_before and average."""
    total = Totals()
    for line in summary.platforms:
        part: Totals = getattr(line, which)
        total = total + part
    return total


def summary_table(summary: DailySummary) -> Table:
    rows = []
    for line in summary.platforms:
        rows.append(
            [
                line.platform,
                money(line.yesterday.spend, summary.currency),
                _pct_text(_percent(line.yesterday.spend, line.day_before.spend)),
                _pct_text(_percent(line.yesterday.spend, line.average.spend)),
                f"{line.yesterday.conversions:,.1f}",
                money(line.yesterday.cpa, summary.currency),
            ]
        )
    return Table(columns=TABLE_COLUMNS, rows=rows)


def headline(summary: DailySummary) -> str:
    total = _total(summary, "yesterday")
    before = _total(summary, "day_before")
    return (
        f"*Daily summary for {summary.org_name}, {summary.yesterday:%a %Y-%m-%d}*: "
        f"spent {money(total.spend, summary.currency)} "
        f"({_pct_text(_percent(total.spend, before.spend))} on the day before), "
        f"{total.conversions:,.1f} conversions, CPA {money(total.cpa, summary.currency)}."
    )


def plain_lines(summary: DailySummary) -> list[str]:
    """What the summary says without a model: movers, approvals waiting, rules that fired."""
    lines: list[str] = []
    if not summary.platforms:
        lines.append("No spend recorded yesterday or in the week before.")
    if summary.movers:
        moves = ", ".join(
            f"{mover.name} ({mover.platform}) {money(mover.day_before_spend)} → "
            f"{money(mover.yesterday_spend, summary.currency)}"
            for mover in summary.movers
        )
        lines.append(f"Top movers: {moves}.")
    if summary.pending_approvals:
        lines.append(
            f"{summary.pending_approvals} approval(s) waiting: type `approvals` to see them."
        )
    if summary.rules_fired:
        fired = ", ".join(f"{name} ×{count}" for name, count in summary.rules_fired)
        lines.append(f"Rules that fired: {fired}.")
    else:
        lines.append("No rule fired.")
    return lines


def summary_chart(summary: DailySummary) -> Chart:
    values = [float(point.spend) for point in summary.daily_spend]
    first, last = summary.daily_spend[0].day, summary.daily_spend[-1].day
    png = charts.labelled_line_chart_png(
        values,
        title=f"Daily spend ({summary.currency})",
        first_label=f"{first:%d %b}",
        last_label=f"{last:%d %b}",
        value_label=lambda value: f"{value:,.0f}",
    )
    alt = (
        f"Daily spend in {summary.currency} from {first:%d %b} to {last:%d %b}: "
        f"lowest {money(Decimal(str(min(values))))}, highest {money(Decimal(str(max(values))))}."
    )
    return Chart(png=png, alt_text=alt)


def summary_figures(summary: DailySummary) -> list[Decimal]:
    """Every figure the summary's queries gave, as a model may quote them (rounded or not)."""
    figures: list[Decimal] = [Decimal(AVERAGE_DAYS), Decimal(summary.pending_approvals)]
    figures += _date_parts(summary.yesterday, summary.local_date)
    sets = [(line.yesterday, line.day_before, line.average) for line in summary.platforms]
    sets.append(
        (_total(summary, "yesterday"), _total(summary, "day_before"), _total(summary, "average"))
    )
    for current, previous, average in sets:
        for totals in (current, previous, average):
            figures += _totals_figures(totals)
        for name in ("spend", "conversions", "cpa", "roas", "clicks"):
            now = current.metric(name)
            figures += _present(
                _percent(now, previous.metric(name)), _percent(now, average.metric(name))
            )
            figures += _present(delta(now, previous.metric(name)).absolute)
    for mover in summary.movers:
        figures += [mover.yesterday_spend, mover.day_before_spend, mover.change]
        figures += _present(_percent(mover.yesterday_spend, mover.day_before_spend))
    figures += [Decimal(count) for _name, count in summary.rules_fired]
    figures += [point.spend for point in summary.daily_spend]
    return figures


def _totals_figures(totals: Totals) -> list[Decimal]:
    values = [Decimal(totals.impressions), Decimal(totals.clicks), totals.spend]
    values += [totals.conversions, totals.conversion_value]
    return values + _present(totals.cpa, totals.roas, totals.ctr, totals.cpc)


def _present(*values: Decimal | None) -> list[Decimal]:
    return [value for value in values if value is not None]


def _date_parts(*days: date) -> Iterable[Decimal]:
    for day in days:
        yield from (Decimal(day.year), Decimal(day.month), Decimal(day.day))


def summary_reply(summary: DailySummary, narrative: str | None = None) -> Reply:
    """The summary as a Reply: the narrative when it passed the check, else the plain lines."""
    body = narrative if narrative else "\n".join(plain_lines(summary))
    return Reply(
        text=f"{headline(summary)}\n\n{body}",
        table=summary_table(summary) if summary.platforms else None,
        chart=summary_chart(summary),
    )


def summary_payload(reply: Reply, summary: DailySummary, *, narrated: bool) -> dict[str, Any]:
    """The outbox payload (JSON-safe); a delivery job turns it back with `payload_reply`."""
    payload: dict[str, Any] = {
        "local_date": summary.local_date.isoformat(),
        "text": reply.text,
        "plain_text": reply.as_plain_text(),
        "narrated": narrated,
        "table": reply.table.model_dump() if reply.table is not None else None,
        "chart": None,
    }
    if reply.chart is not None:
        payload["chart"] = {
            "png_base64": base64.b64encode(reply.chart.png).decode("ascii"),
            "alt_text": reply.chart.alt_text,
            "filename": f"summary-{summary.yesterday.isoformat()}.png",
        }
    return payload


def payload_reply(payload: dict[str, Any]) -> Reply:
    """A summary outbox payload back as the Reply every channel knows how to render."""
    chart = payload.get("chart")
    table = payload.get("table")
    return Reply(
        text=str(payload["text"]),
        table=Table.model_validate(table) if table else None,
        chart=Chart(png=base64.b64decode(chart["png_base64"]), alt_text=chart["alt_text"])
        if chart
        else None,
    )
