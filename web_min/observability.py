"""Prometheus metrics of one HTTP app: requests by route, webhooks, outbound calls, receivers.

Each app owns its CollectorRegistry, so two apps in one process (tests, a worker next to the
API) never share or double-register series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Request latency buckets in seconds: webhook acks live in the low milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class AppMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.requests = Counter(
            "adpilot_http_requests_total",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "adpilot_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhook_events = Counter(
            "adpilot_webhook_events_total",
            "Inbound webhook events by channel and outcome.",
            ("channel", "outcome"),
            registry=self.registry,
        )
        self.outbound_calls = Counter(
            "adpilot_outbound_calls_total",
            "Outbound chat API calls by channel and status.",
            ("channel", "status"),
            registry=self.registry,
        )
        # Channels that hold a connection open to their platform (Signal's receive socket).
        self.channel_reconnects = Counter(
            "adpilot_channel_reconnects_total",
            "Reconnection attempts of a chat channel's receive connection, by channel.",
            ("channel",),
            registry=self.registry,
        )
        self.channel_connected = Gauge(
            "adpilot_channel_connected",
            "1 while a chat channel's receive connection is up, 0 while it is down.",
            ("channel",),
            registry=self.registry,
        )

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route, method=method).observe(seconds)

    def outbound_observer(self, channel: str) -> Callable[[str], None]:
        """What a ChatChannel calls after each platform call: "ok" or its failure kind."""
        counter = self.outbound_calls

        def observe(status: str) -> None:
            counter.labels(channel=channel, status=status).inc()

        return observe

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
