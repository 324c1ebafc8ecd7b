"""A short narrative of the daily summary written by the model, kept only if every figure checks.

The model sees the summary's text and nothing else (no tools); whatever it writes is checked
number by number against the figures the queries returned. One figure not in the data and the
narrative is dropped: the plain summary goes out instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from pydantic_ai import Agent, UsageLimits
from pydantic_ai.exceptions import AgentRunError, FallbackExceptionGroup
from pydantic_ai.models import Model

from bot.deps import model_configured
from bot.models import build_chain
from core.config import Settings
from core.summaries.figures import unsupported_figures

log = logging.getLogger(__name__)

INSTRUCTIONS = """You write the morning note of an advertising team's daily summary.
In two to four short sentences, say what matters in the figures you are given: the biggest
changes, what to look at first. Quote figures exactly as given (you may round them); never
compute new figures such as sums, differences or percentages that are not in the text.
Plain sentences, no lists, no headings."""

# One request, no tools: a summary never needs the model to call anything.
_LIMITS = UsageLimits(request_limit=1, total_tokens_limit=4_000)
MAX_NARRATIVE_CHARS = 800

_AGENT: Agent[None, str] = Agent(output_type=str, instructions=INSTRUCTIONS, retries=0)


def summary_model(settings: Settings) -> Model | None:
    """The cheaper configured model (a summary is short), or None without any model."""
    if not model_configured(settings):
        return None
    primary = settings.llm_budget_model or settings.llm_model
    assert primary is not None
    return build_chain(primary, settings.llm_fallback_model, settings)


def checked_narrative(narrative: str, figures: Sequence[Decimal]) -> str | None:
    """The narrative when every number in it is one of `figures`, else None."""
    text = narrative.strip()
    if not text or len(text) > MAX_NARRATIVE_CHARS:
        return None
    invented = unsupported_figures(text, figures)
    if invented:
        # Counted, never quoted: the figures are the org's business data.
        log.warning("summary narrative dropped: %d figure(s) not in the data", len(invented))
        return None
    return text


async def write_narrative(
    summary_text: str, figures: Sequence[Decimal], *, model: Model
) -> str | None:
    """Ask the model for a narrative of `summary_text`; None when it fails or fails the check."""
    try:
        result = await _AGENT.run(summary_text, model=model, usage_limits=_LIMITS)
    except (AgentRunError, FallbackExceptionGroup):
        log.warning("summary narrative skipped: the model did not answer", exc_info=True)
        return None
    except Exception:
        # SDK transport errors are not all wrapped by pydantic-ai; a narrative is optional,
        # so whatever the model's side raised, the plain summary still goes out.
        log.warning("summary narrative skipped: the model call failed", exc_info=True)
        return None
    return checked_narrative(result.output, figures)
