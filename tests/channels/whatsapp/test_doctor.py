"""`adpilot doctor` on WhatsApp: off without settings, ok with them, and no secret on screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.channels.whatsapp.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID

ADPILOT = str(Path(sys.executable).with_name("adpilot"))
pytestmark = pytest.mark.slow


def doctor_line(tmp_path: Path, **env: str) -> tuple[str, str]:
    full = {
        **os.environ,
        "COLUMNS": "160",
        "ADPILOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db",
        **env,
    }
    for command in ("migrate", "doctor"):
        result = subprocess.run(
            [ADPILOT, command], capture_output=True, text=True, env=full, timeout=120, check=False
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    return lines["channel: whatsapp"], result.stdout


def test_doctor_says_whatsapp_is_off_without_its_settings(tmp_path: Path) -> None:
    line, _ = doctor_line(tmp_path)
    assert "off" in line
    assert "not configured" in line


def test_doctor_says_whatsapp_is_ok_with_its_settings_and_shows_no_secret(
    tmp_path: Path,
) -> None:
    line, output = doctor_line(
        tmp_path,
        ADPILOT_WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
        ADPILOT_WHATSAPP_APP_SECRET=APP_SECRET,
        ADPILOT_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        ADPILOT_WHATSAPP_VERIFY_TOKEN="adpilot-verify-7Qx2",
    )
    assert "ok" in line
    assert "settings complete and valid" in line
    assert ACCESS_TOKEN not in output
    assert APP_SECRET not in output


def test_doctor_names_the_missing_whatsapp_setting(tmp_path: Path) -> None:
    line, _ = doctor_line(tmp_path, ADPILOT_WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN)
    assert "missing" in line
    assert "ADPILOT_WHATSAPP_APP_SECRET" in line
