"""Signed download links: genuine, tampered, expired, and bound to one file of one org."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import SecretStr

from core.config import Settings
from core.exports import links

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
KEY = links.export_key(uuid.UUID(int=1), "report.csv")


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    key = unquote(split.path.removeprefix("/downloads/"))
    return key, query["expires"][0], query["sig"][0]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        secret_key=SecretStr("k" * 20 + "abcdefghijklmnopqrstuvw"), public_url="https://ads.example"
    )


def test_a_genuine_link_opens_its_file_until_it_expires(settings: Settings) -> None:
    url = links.signed_url(settings, KEY, now=NOW)
    assert url.startswith("https://ads.example/downloads/exports/")
    key, expires, sig = parts(url)
    assert links.verify(settings, key, expires, sig, now=NOW) == KEY
    later = NOW + timedelta(seconds=settings.download_link_ttl_seconds)
    with pytest.raises(links.LinkExpired):
        links.verify(settings, key, expires, sig, now=later)


def test_a_tampered_link_is_refused(settings: Settings) -> None:
    key, expires, sig = parts(links.signed_url(settings, KEY, now=NOW))
    other_org = links.export_key(uuid.UUID(int=2), "report.csv")
    for bad in (
        (other_org, expires, sig),  # another org's file
        (key, str(int(expires) + 3600), sig),  # a longer life
        (key, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        (key, expires, ""),
        (key, "soon", sig),
        ("secrets/" + key, expires, sig),
    ):
        with pytest.raises(links.LinkInvalid):
            links.verify(settings, *bad, now=NOW)


def test_another_secret_key_signs_differently(settings: Settings) -> None:
    key, expires, sig = parts(links.signed_url(settings, KEY, now=NOW))
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("z" * 20 + "0123456789abcdefghijklm")}
    )
    with pytest.raises(links.LinkInvalid):
        links.verify(rotated, key, expires, sig, now=NOW)
