"""Secret shapes are redacted; ordinary text, ids and numbers are left exactly as they were."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.redaction import REDACTED, redact, redact_payload

FERNET_KEY = Fernet.generate_key().decode()
FERNET_TOKEN = Fernet(FERNET_KEY.encode()).encrypt(b"refresh-token").decode()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "GET /oauth/access_token?client_id=1&client_secret=3c1f9e2b7a6d&code=AQDx",
            "3c1f9e2b7a6d",
        ),
        ("GET /oauth/access_token?client_id=1&client_secret=3c1f9e2b7a6d&code=AQDx", "AQDx"),
        ("?grant_type=fb_exchange_token&fb_exchange_token=EAAGshort", "EAAGshort"),
        ("/oauth2/advertiser/get/?app_id=71234&secret=f3e2d1c0b9a8", "f3e2d1c0b9a8"),
        ("form {'app_secret': 'abc123secret'}", "abc123secret"),
        ('{"access_token": "9f8e7d6c5b4a", "advertiser_ids": []}', "9f8e7d6c5b4a"),
        ("refresh_token=1x2y3z4w", "1x2y3z4w"),
        ("headers {'Access-Token': '9f8e7d6c5b4a3928'}", "9f8e7d6c5b4a3928"),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("auth header was bearer Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
        ("developer-token: aBcD3fGhIjKlMnOp", "aBcD3fGhIjKlMnOp"),
        ("slack said no to xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "xoxb-123456789012"),
        ("user token xoxp-1-2-3-abcdefghij", "xoxp-1-2-3-abcdefghij"),
        ("app token xapp-1-A0123-456-abcdef0123", "xapp-1-A0123-456-abcdef0123"),
        (
            "POST https://hooks.slack.com/services/T0001/B0002/abcdefSECRET24charsXYZ failed",
            "abcdefSECRET24charsXYZ",
        ),
        (
            "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-/getMe",
            "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-",
        ),
        ("stripe key sk_live_51HxYzAbCdEfGh12", "sk_live_51HxYzAbCdEfGh12"),
        ("stripe key sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
        ("restricted rk_live_51HxYzAbCdEfGh12", "rk_live_51HxYzAbCdEfGh12"),
        (
            "webhook secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        (f"ADPILOT_ENCRYPTION_KEYS={FERNET_KEY},old", FERNET_KEY),
        (f"stored {FERNET_TOKEN}", FERNET_TOKEN),
        ("google ya29.a0AfB_byC-EXAMPLE-access-token", "ya29.a0AfB_byC-EXAMPLE-access-token"),
        ("refresh 1//0gEXAMPLErefreshTOKENabcdefgh", "1//0gEXAMPLErefreshTOKENabcdefgh"),
        ("client GOCSPX-Xq3vT9kLm2Pz8RwYb7Nc", "GOCSPX-Xq3vT9kLm2Pz8RwYb7Nc"),
        ("meta EAAGm0PX4ZCpsBAKZCqzRz5qZBZA", "EAAGm0PX4ZCpsBAKZCqzRz5qZBZA"),
        ("llm sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv"),
        ("llm sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx"),
        (
            "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJlMTIz",
            "eyJzdWIiOiIxMjM0NTYifQ",
        ),
        ("password=hunter2hunter2", "hunter2hunter2"),
        ('body {"app_id": "7123", "secret": "f3e2d1c0", "auth_code": "c0ffee"}', "f3e2d1c0"),
        ('body {"app_id": "7123", "secret": "f3e2d1c0", "auth_code": "c0ffee"}', "c0ffee"),
        ("cache token=abc123def", "abc123def"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ],
)
def test_secret_shapes_are_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_the_key_name_stays_so_the_line_still_reads() -> None:
    assert redact("?app_id=7123&secret=f3e2d1&page=1") == "?app_id=7123&secret=[REDACTED]&page=1"
    assert redact('{"access_token": "abc"}') == '{"access_token": "[REDACTED]"}'
    assert redact("Authorization: Bearer abcdefghij") == "Authorization: Bearer [REDACTED]"


@pytest.mark.parametrize(
    "text",
    [
        "The access token has expired; reconnect the account.",
        "Meta error 190/463: Error validating access token: Session has expired",
        "TikTok error 40101: The app_id or secret is invalid. (request 202610011000000109)",
        "secret sauce, token ring, error code 17, bearer bonds",
        "tiktok GET /open_api/v1.3/report/integrated/get/ -> 200 (request-id 2026100110000103)",
        "campaign 2f1e7c3a-9b7d-4c1e-8a2b-1f2e3d4c5b6a spent 1234.56 PLN on 2026-10-01 14:00:00",
        "git 3f786850e387550fdab836ed7e6dc881de23001b, base64 aGVsbG8gd29ybGQ=, ratio 12:30",
        "Paused by @dana at 14:02 (approve 4F2K)",
        "customers/1234567890/campaignBudgets/901 amount_micros 50000000",
        "sk-short and xoxb- alone are not tokens",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_payload_fields_named_as_secrets_are_blanked_and_shapes_redacted() -> None:
    row = {
        "campaign_id": "1800001",
        "metrics": {"spend": "12.34"},
        "data": {"access_token": "9f8e7d6c", "refresh_token": None, "advertiser_ids": ["7000001"]},
        "secret": "f3e2d1",
        "note": "Bearer abcdefghijklmnop",
        "list": [{"client_secret": "x"}, "ya29.a0AfB_byC-EXAMPLE-token"],
    }
    assert redact_payload(row) == {
        "campaign_id": "1800001",
        "metrics": {"spend": "12.34"},
        "data": {
            "access_token": REDACTED,
            "refresh_token": REDACTED,
            "advertiser_ids": ["7000001"],
        },
        "secret": REDACTED,
        "note": REDACTED,
        "list": [{"client_secret": REDACTED}, REDACTED],
    }
    assert row["secret"] == "f3e2d1"  # a copy: the caller's object is untouched
