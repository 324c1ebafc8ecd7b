"""The scrubbing filter rewrites messages, arguments and exception text; the set-up quiets httpx."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.errors import PlatformSchemaError
from core.logging_setup import HTTP_CLIENT_LOGGERS, SecretScrubber, configure_logging

TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.addFilter(SecretScrubber())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def collector() -> Iterator[Collector]:
    logger = logging.getLogger("tests.scrub")
    handler = Collector()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)


def test_secret_in_an_argument_is_redacted(collector: Collector) -> None:
    logging.getLogger("tests.scrub").info("calling %s with %r", "/oauth2", {"access_token": TOKEN})
    assert TOKEN not in collector.lines[0]
    assert (
        collector.lines[0]
        == "INFO tests.scrub: calling /oauth2 with {'access_token': '[REDACTED]'}"
    )


def test_secret_in_the_message_is_redacted(collector: Collector) -> None:
    logging.getLogger("tests.scrub").warning(f"GET /x?app_id=1&secret={TOKEN}")
    assert collector.lines == ["WARNING tests.scrub: GET /x?app_id=1&secret=[REDACTED]"]


def test_secret_in_exception_text_is_redacted(collector: Collector) -> None:
    try:
        raise RuntimeError(f"upstream said: Authorization: Bearer {TOKEN}")
    except RuntimeError:
        logging.getLogger("tests.scrub").exception("job failed")
    assert "job failed" in collector.lines[0]
    assert "RuntimeError: upstream said: Authorization: Bearer [REDACTED]" in collector.lines[0]
    assert TOKEN not in collector.lines[0]


def test_a_record_seen_twice_is_scrubbed_once_and_never_dropped(collector: Collector) -> None:
    second = Collector()
    logger = logging.getLogger("tests.scrub")
    logger.addHandler(second)
    try:
        logger.error("token=%s", TOKEN)
    finally:
        logger.removeHandler(second)
    assert collector.lines == second.lines == ["ERROR tests.scrub: token=[REDACTED]"]


def test_a_bad_format_string_still_gets_logged_and_scrubbed(collector: Collector) -> None:
    logging.getLogger("tests.scrub").info("two %s %s", f"access_token={TOKEN}")
    assert len(collector.records) == 1
    assert TOKEN not in collector.records[0].getMessage()


def test_schema_error_payload_for_the_dead_letter_is_scrubbed() -> None:
    error = PlatformSchemaError(
        "A row does not have the expected shape.",
        payload={"campaign_id": "1", "next": f"https://x/?access_token={TOKEN}"},
    )
    assert error.payload == {"campaign_id": "1", "next": "https://x/?access_token=[REDACTED]"}
    assert not error.retryable


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
def test_configure_adds_a_filtered_stderr_handler_and_quiets_http_clients() -> None:
    root = logging.getLogger()
    root.handlers[:] = []  # a fresh process: Python's last-resort handler has no filter
    configure_logging("debug")
    assert root.level == logging.DEBUG
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    assert any(isinstance(item, SecretScrubber) for item in handler.filters)
    for name in ("httpx", "httpcore", "httpx2", "httpcore2", "hpack"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
