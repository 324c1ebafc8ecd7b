"""The receive socket against a loopback signal-cli-rest-api: it reads, survives, reconnects."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from channels.signal_messenger.receiver import Backoff, SignalReceiver, receive_url
from tests.channels.signal_messenger import payloads as p
from tests.channels.signal_messenger.mock_api import GIVE_UP_SECONDS, MockSignalApi
from web_min.observability import AppMetrics

FAST = Backoff(first=0.001, cap=0.01, stable=60.0)


@dataclass(frozen=True)
class CountingBackoff(Backoff):
    third_attempt: asyncio.Event = field(default_factory=asyncio.Event)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        if attempt >= 2:
            self.third_attempt.set()
        return super().delay(attempt, rng)


class Frames:
    """An on_frame that records, and lets a test wait for the n-th frame."""

    def __init__(self) -> None:
        self.seen: list[str | bytes] = []
        self._changed = asyncio.Event()

    def __call__(self, frame: str | bytes) -> None:
        self.seen.append(frame)
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            while len(self.seen) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def api() -> AsyncIterator[MockSignalApi]:
    server = MockSignalApi(p.BOT)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def metrics() -> AppMetrics:
    return AppMetrics()


def sample(metrics: AppMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"channel": "signal"}) or 0.0


async def started(api: MockSignalApi, frames: Frames, metrics: AppMetrics) -> SignalReceiver:
    receiver = SignalReceiver(
        url=receive_url(api.url, p.BOT), on_frame=frames, metrics=metrics, backoff=FAST
    )
    receiver.start()
    await api.wait_for(connections=1)
    async with asyncio.timeout(GIVE_UP_SECONDS):
        await receiver.wait_connected()
    return receiver


async def test_frames_are_handed_on_in_order_while_connected(
    api: MockSignalApi, metrics: AppMetrics
) -> None:
    frames = Frames()
    receiver = await started(api, frames, metrics)
    assert receiver.connected
    assert sample(metrics, "adpilot_channel_connected") == 1
    await api.push(p.frame(p.data_message(p.ADMIN, "one")), p.frame(p.data_message(p.ADMIN, "two")))
    await frames.wait_for(2)
    assert ['"one"' in str(frame) for frame in frames.seen] == [True, False]
    await receiver.stop()
    assert not receiver.connected
    assert sample(metrics, "adpilot_channel_connected") == 0
    await api.wait_disconnected()  # the socket was closed, not left behind


@pytest.mark.parametrize("how", ["drop", "close"])
async def test_a_lost_connection_is_reconnected_and_counted(
    api: MockSignalApi, metrics: AppMetrics, how: str
) -> None:
    frames = Frames()
    receiver = await started(api, frames, metrics)
    await (api.drop() if how == "drop" else api.close_sockets())
    await api.wait_for(connections=2)
    async with asyncio.timeout(GIVE_UP_SECONDS):
        await receiver.wait_connected()
    await api.push(p.frame(p.data_message(p.ADMIN, "after")))
    await frames.wait_for(1)
    assert receiver.reconnects >= 1
    assert sample(metrics, "adpilot_channel_reconnects_total") == receiver.reconnects
    await receiver.stop()


async def test_a_refused_socket_is_tried_again_until_the_api_accepts(
    api: MockSignalApi, metrics: AppMetrics
) -> None:
    api.refuse_sockets = 3  # e.g. the container is up but signal-cli is still starting
    frames = Frames()
    receiver = await started(api, frames, metrics)
    assert receiver.reconnects >= 3
    assert api.connections == 1
    await receiver.stop()


async def test_garbage_and_a_failing_handler_do_not_stop_the_socket(
    api: MockSignalApi, metrics: AppMetrics
) -> None:
    frames = Frames()

    def fragile(frame: str | bytes) -> None:
        frames(frame)
        if frame == "boom":
            raise RuntimeError("a bug in handling one frame")

    receiver = SignalReceiver(
        url=receive_url(api.url, p.BOT), on_frame=fragile, metrics=metrics, backoff=FAST
    )
    receiver.start()
    await api.wait_for(connections=1)
    await api.push("{not json", b"\x00\xff", "boom", p.frame(p.data_message(p.ADMIN, "still here")))
    await frames.wait_for(4)
    assert api.connections == 1  # never reconnected: the same socket read all four
    assert receiver.reconnects == 0
    await receiver.stop()


async def test_an_api_that_is_not_there_is_retried_and_reported_down(metrics: AppMetrics) -> None:
    server = MockSignalApi(p.BOT)
    url = await server.start()
    await server.stop()  # nothing listens on that port any more
    backoff = CountingBackoff(first=0.001, cap=0.01)
    receiver = SignalReceiver(
        url=receive_url(url, p.BOT), on_frame=Frames(), metrics=metrics, backoff=backoff
    )
    receiver.start()
    async with asyncio.timeout(GIVE_UP_SECONDS):
        await backoff.third_attempt.wait()
    assert not receiver.connected
    assert sample(metrics, "adpilot_channel_connected") == 0
    assert sample(metrics, "adpilot_channel_reconnects_total") >= 3
    await receiver.stop()


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(first=0.5, cap=30.0)
    rng = random.Random(7)
    for attempt, nominal in enumerate([0.5, 1, 2, 4, 8, 16, 30, 30, 30]):
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(nominal / 2 <= delay <= nominal for delay in delays)
        assert max(delays) - min(delays) > nominal / 4  # jittered, not a fixed step
    assert backoff.delay(10_000, rng) <= 30.0


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://signal-api:8080", "ws://signal-api:8080/v1/receive/%2B4915100000001"),
        (
            "https://signal.example.com/api/",
            "wss://signal.example.com/api/v1/receive/%2B4915100000001",
        ),
    ],
)
def test_the_receive_url_is_the_websocket_form_of_the_api_url(base: str, url: str) -> None:
    assert receive_url(base, p.BOT) == url
