"""Real headless Chromium against a real server: Debian's `chromium` driven by Playwright.

- `live_server`: uvicorn on a free 127.0.0.1 port in a thread, on a migrated SQLite file;
  gives the base URL and the server's Settings (create users through `Database(settings)`).
- `page`: a fresh browser page; Chromium from ADPILOT_CHROMIUM or /usr/bin/chromium, never
  downloaded. A missing browser fails the test: a browser test must not pass by skipping.
- `screenshot(page, name)` writes tests/artifacts/screenshots/<name>.png (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from core.config import Settings, reset_settings_cache
from web_min.app import create_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings


def chromium_path() -> str:
    path = os.environ.get("ADPILOT_CHROMIUM", DEFAULT_CHROMIUM)
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"no Chromium at {path}: install Debian's `chromium` package (.ci/run does) or "
            "point ADPILOT_CHROMIUM at one; browser tests never download a browser"
        )
    return path


@pytest.fixture
def live_server(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    database_file = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, database_file)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("ADPILOT_DATABASE_URL", f"sqlite+aiosqlite:///{database_file}")
    monkeypatch.setenv("ADPILOT_PUBLIC_URL", url)
    reset_settings_cache()
    settings = Settings()
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # Root in a container has no user namespaces for Chromium's sandbox.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under tests/artifacts/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
