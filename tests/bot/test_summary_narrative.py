"""The summary narrative: kept only when each figure checks, dropped when the model fails."""

from __future__ import annotations

from decimal import Decimal

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from bot.summary_narrative import checked_narrative, write_narrative

FIGURES = [Decimal("120"), Decimal("100"), Decimal("150.0")]


async def test_the_model_sees_the_summary_and_its_faithful_words_are_kept() -> None:
    seen: list[str] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(str(messages[-1].parts[-1].content))  # type: ignore[union-attr]
        return ModelResponse(parts=[TextPart("Spend rose 150.0% to 100.00 on Shoes.")])

    narrative = await write_narrative(
        "Daily summary: 120 spent", FIGURES, model=FunctionModel(reply)
    )
    assert narrative == "Spend rose 150.0% to 100.00 on Shoes."
    assert seen == ["Daily summary: 120 spent"]


async def test_an_invented_figure_drops_the_narrative() -> None:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Spend rose 151% to 100.00.")])

    assert await write_narrative("text", FIGURES, model=FunctionModel(reply)) is None


async def test_a_failing_model_means_no_narrative() -> None:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("boom")

    # A model that errors (not an AgentRunError) still must not stop the summary.
    assert await write_narrative("text", FIGURES, model=FunctionModel(reply)) is None


def test_empty_or_overlong_narratives_are_dropped() -> None:
    assert checked_narrative("   ", FIGURES) is None
    assert checked_narrative("word " * 400, FIGURES) is None
