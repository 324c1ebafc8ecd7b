"""Fixtures for the adapter tests: settings with app credentials and a sleep that only records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx
from pydantic import SecretStr

from core.config import Settings


class SleepRecorder:
    """Stands in for asyncio.sleep: remembers the waits, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def http_settings() -> Settings:
    return Settings(
        google_client_id="gid.apps.googleusercontent.com",
        google_client_secret=SecretStr("gsecret"),
        meta_app_id="meta-app",
        meta_app_secret=SecretStr("meta-secret"),
        tiktok_app_id="tt-app",
        tiktok_app_secret=SecretStr("tt-secret"),
        http_max_attempts=3,
    )


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock
