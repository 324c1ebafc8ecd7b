"""Pydantic errors as one sentence with the field, the limit and what was given."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from core.validation import Label, first_friendly

LABELS = {
    "name": Label("A rule name"),
    "conditions": Label("A rule", items="conditions"),
    "percent": Label("A budget change", unit="%"),
}


class Draft(BaseModel):
    name: str = Field(default="r", min_length=1, max_length=200)
    conditions: list[str] = Field(default_factory=lambda: ["c"], min_length=1, max_length=8)
    percent: Decimal = Field(default=Decimal(1), ge=-90, le=200)
    mode: Literal["notify", "approve"] = "notify"
    lag: int = Field(default=0, le=168)


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"name": "x" * 250}, "A rule name can be at most 200 characters (you gave 250)."),
        ({"name": ""}, "A rule name cannot be empty."),
        ({"conditions": ["c"] * 9}, "A rule can have at most 8 conditions (you gave 9)."),
        ({"conditions": []}, "A rule needs at least 1 conditions."),
        ({"percent": "500"}, "A budget change must be at most 200% (you gave 500%)."),
        ({"percent": "-95"}, "A budget change must be at least -90% (you gave -95%)."),
        ({"percent": "lots"}, "A budget change is not a valid number."),
        ({"mode": "yolo"}, "mode must be one of 'notify' or 'approve'."),
        ({"lag": 500}, "lag must be at most 168 (you gave 500)."),
        (
            {"lag": "9" * 300},
            "lag must be at most 168 (you gave 9999999999999999999999999999999999999999…).",
        ),
    ],
)
def test_one_sentence_per_error(data: dict[str, object], sentence: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Draft.model_validate(data)
    assert first_friendly(caught.value, LABELS) == sentence
