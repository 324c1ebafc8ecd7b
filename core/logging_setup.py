"""Logging for the composition roots: HTTP client loggers kept quiet, secrets scrubbed on output.

httpx logs every request URL at INFO (and httpcore/hpack log headers at DEBUG); Meta, TikTok and
Google put app secrets and tokens in query strings or headers, so those loggers stay at WARNING.
Whatever still gets logged passes `SecretScrubber` on each root handler, which redacts known
secret shapes in the message, its arguments, and the exception text.
"""

from __future__ import annotations

import logging
import sys

from core.redaction import redact

# The LLM SDKs speak httpx2 (and httpcore2); hpack logs decoded HTTP/2 headers at DEBUG.
# slack_sdk and slack_bolt log request bodies (message text, OAuth codes) and PTB logs whole
# updates at DEBUG: message bodies never reach a log line, so they stay at WARNING too.
HTTP_CLIENT_LOGGERS = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "hpack",
    "slack_sdk",
    "slack_bolt",
    "telegram",
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecretScrubber(logging.Filter):
    """Rewrites a record so that no known secret shape survives; never drops a record.

    The message is merged with its args first (a token can hide in either), and the exception
    and stack text are rendered and redacted here, because a formatter would otherwise render
    them later from the live exception.
    """

    _done_marker = "_adpilot_scrubbed"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, self._done_marker, False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, self._done_marker, True)
        return True


def quiet_http_clients() -> None:
    """Raise the HTTP client loggers to WARNING so request URLs and headers are never logged."""
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def install_secret_filter(handler: logging.Handler) -> None:
    if not any(isinstance(existing, SecretScrubber) for existing in handler.filters):
        handler.addFilter(SecretScrubber())


def configure_logging(level: str | int = logging.INFO) -> None:
    """What every composition root calls once at start, after adding any handlers of its own.

    Without a root handler a stderr one is added (Python's last-resort handler has no filters).
    """
    root = logging.getLogger()
    if not root.handlers:
        stderr_handler = logging.StreamHandler(sys.stderr)
        stderr_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(stderr_handler)
    for handler in root.handlers:
        install_secret_filter(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    quiet_http_clients()
