"""Signal in the HTTP app: built when configured, started and stopped by the lifespan, and
reported (never failed) by /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from channels.signal_messenger.app import SignalMessenger
from channels.signal_messenger.channel import SignalChannel
from channels.signal_messenger.receiver import Backoff
from core.config import Settings
from tests.channels.signal_messenger import payloads as p
from tests.channels.signal_messenger.mock_api import MockSignalApi
from web_min.app import create_app


@pytest.fixture
async def api() -> AsyncIterator[MockSignalApi]:
    server = MockSignalApi(p.BOT)
    await server.start()
    yield server
    await server.stop()


async def readyz(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adpilot.test") as http:
        return await http.get("/readyz")


def configured(settings: Settings, url: str) -> FastAPI:
    app = create_app(settings.model_copy(update={"signal_api_url": url, "signal_number": p.BOT}))
    messenger: SignalMessenger = app.state.signal
    messenger.receiver.backoff = Backoff(first=0.001, cap=0.01)
    return app


async def test_the_lifespan_starts_the_receiver_and_readyz_reports_it_connected(
    settings: Settings, api: MockSignalApi
) -> None:
    app = configured(settings, api.url)
    assert isinstance(app.state.channels["signal"], SignalChannel)
    async with app.router.lifespan_context(app):
        await api.wait_for(connections=1)
        await app.state.signal.receiver.wait_connected()
        response = await readyz(app)
        assert (response.status_code, response.json()) == (
            200,
            {"status": "ready", "receivers": {"signal": "connected"}},
        )
        metrics = app.state.metrics.exposition().decode()
        assert 'adpilot_channel_connected{channel="signal"} 1.0' in metrics
    # Shutdown closed the socket and ended the task.
    await api.wait_disconnected()
    assert app.state.signal.receiver._task is None
    assert app.state.signal.http.is_closed
    await app.state.database.dispose()


async def test_a_disconnected_receiver_is_reported_but_readyz_stays_200(
    settings: Settings,
) -> None:
    """A flapping signal-cli container must not take the API out of its load balancer."""
    gone = MockSignalApi(p.BOT)
    url = await gone.start()
    await gone.stop()
    app = configured(settings, url)
    async with app.router.lifespan_context(app):
        response = await readyz(app)
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "receivers": {"signal": "disconnected"}},
    )
    await app.state.database.dispose()


async def test_without_signal_settings_the_channel_is_off(settings: Settings) -> None:
    app = create_app(settings)
    assert "signal" not in app.state.channels
    assert app.state.receivers == {}
    async with app.router.lifespan_context(app):
        response = await readyz(app)
    assert response.json() == {"status": "ready"}
    await app.state.database.dispose()


async def test_a_down_redis_is_still_a_503_and_names_the_receiver_too(
    settings: Settings, api: MockSignalApi
) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = configured(broken, api.url)
    response = await readyz(app)  # no lifespan: the receiver never started
    assert response.status_code == 503
    assert response.json()["receivers"] == {"signal": "disconnected"}
    assert response.json()["down"] == ["redis: ConnectionError"]
    await app.state.signal.http.aclose()
    await app.state.database.dispose()
