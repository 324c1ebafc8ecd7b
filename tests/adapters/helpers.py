"""Loading recorded payloads from tests/fixtures/<platform>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def payload(name: str) -> Any:
    """A recorded response body, e.g. payload("google/resource_exhausted.json")."""
    return json.loads((FIXTURES / name).read_text())
