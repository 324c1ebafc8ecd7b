"""Each platform's text limits and the structured output the copy model must return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

CopyPlatform = Literal["google", "meta", "tiktok"]

# What a person (or the chat agent) may ask copy for: enough for a product and a tone, not a
# pasted page that would be sent, and billed, to the model with every corrective round.
PRODUCT_MAX_CHARS = 300
TONE_MAX_CHARS = 60
MAX_VARIANTS = 10


@dataclass(frozen=True)
class Limits:
    """Max characters per headline and per body text; headline_max 0 means no headlines."""

    headline_max: int
    text_max: int
    text_label: str
    headline_label: str = "headline"


LIMITS: dict[CopyPlatform, Limits] = {
    # Google responsive search ads: headlines <= 30, descriptions <= 90.
    "google": Limits(headline_max=30, text_max=90, text_label="description"),
    # Meta: headline <= 40; primary text is truncated after ~125 characters in the feed.
    "meta": Limits(headline_max=40, text_max=125, text_label="primary text"),
    # TikTok: ad text <= 100; TikTok ads carry no separate headline.
    "tiktok": Limits(headline_max=0, text_max=100, text_label="ad text"),
}


class AdCopy(BaseModel):
    """Ad copy variants: short headlines and longer body texts."""

    headlines: list[str] = Field(default_factory=list, max_length=15)
    texts: list[str] = Field(min_length=1, max_length=10)


def violations(copy: AdCopy, platform: CopyPlatform) -> list[str]:
    """Human-readable problems, empty when every line fits the platform's limits."""
    limits = LIMITS[platform]
    problems: list[str] = []
    if limits.headline_max == 0 and copy.headlines:
        problems.append(f"{platform} ads have no headlines; leave `headlines` empty")
    for headline in copy.headlines if limits.headline_max else []:
        if len(headline.strip()) > limits.headline_max:
            problems.append(
                f"headline {headline!r} has {len(headline.strip())} characters "
                f"(max {limits.headline_max})"
            )
    for text in copy.texts:
        if len(text.strip()) > limits.text_max:
            problems.append(
                f"{limits.text_label} {text!r} has {len(text.strip())} characters "
                f"(max {limits.text_max})"
            )
    if any(not line.strip() for line in [*copy.headlines, *copy.texts]):
        problems.append("empty lines are not allowed")
    return problems
