"""The `adpilot` entry point sets up logging before any command runs: filtered, httpx quiet."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from channels.cli import main as cli_main
from core.logging_setup import HTTP_CLIENT_LOGGERS, SecretScrubber


@pytest.fixture
def saved_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in HTTP_CLIENT_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("saved_logging")
def test_main_configures_logging_before_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def command() -> None:
        root = logging.getLogger()
        seen["filtered"] = bool(root.handlers) and all(
            any(isinstance(item, SecretScrubber) for item in handler.filters)
            for handler in root.handlers
        )
        seen["httpx_info"] = logging.getLogger("httpx").isEnabledFor(logging.INFO)

    logging.getLogger().handlers[:] = []
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    monkeypatch.setattr(cli_main, "app", command)
    cli_main.main()
    assert seen == {"filtered": True, "httpx_info": False}
