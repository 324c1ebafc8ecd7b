"""Write ad copy with the configured model; counts against the org's quota only on success."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_ai import Agent, ModelRetry, RunContext, UsageLimits
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.models import Model

from bot.ai_copy.limits import (
    LIMITS,
    MAX_VARIANTS,
    PRODUCT_MAX_CHARS,
    TONE_MAX_CHARS,
    AdCopy,
    CopyPlatform,
    violations,
)
from bot.calls import audited
from bot.deps import BotDeps
from bot.replies import Reply, Table
from core.billing import service as billing
from core.config import Settings
from core.errors import ValidationFailed
from core.rbac import Permission, require
from core.users import service as users

# Overshooting a length limit is common; a few corrective rounds almost always fix it.
COPY_RETRIES = 3

NO_MODEL = (
    "AI ad copy needs an AI model, and none is configured "
    "(set ADPILOT_LLM_MODEL and an API key). Everything else works without one."
)
GAVE_UP = "I couldn't get copy that fits the platform's limits this time; please try again."


@dataclass(frozen=True)
class CopyRequest:
    platform: CopyPlatform
    count: int


def _instructions(ctx: RunContext[CopyRequest]) -> str:
    limits = LIMITS[ctx.deps.platform]
    headlines = (
        f"{ctx.deps.count} headlines of at most {limits.headline_max} characters each, "
        if limits.headline_max
        else "no headlines, "
    )
    return (
        f"You write {ctx.deps.platform} ad copy. Return {headlines}and {ctx.deps.count} "
        f"{limits.text_label}s of at most {limits.text_max} characters each. Count characters "
        "carefully; no emoji-only lines, no claims you cannot back up, no placeholders."
    )


def build_copy_agent() -> Agent[CopyRequest, AdCopy]:
    """The copy agent; the model is given per run so tests and tiers can swap it."""
    agent: Agent[CopyRequest, AdCopy] = Agent(
        output_type=AdCopy,
        deps_type=CopyRequest,
        instructions=_instructions,
        retries=COPY_RETRIES,
    )

    @agent.output_validator
    def fits_limits(ctx: RunContext[CopyRequest], copy: AdCopy) -> AdCopy:
        problems = violations(copy, ctx.deps.platform)
        if problems:
            raise ModelRetry("Fix these and return all lines again: " + "; ".join(problems))
        return AdCopy(
            headlines=[line.strip() for line in copy.headlines],
            texts=[line.strip() for line in copy.texts],
        )

    return agent


_COPY_AGENT = build_copy_agent()


def copy_usage_limits(settings: Settings) -> UsageLimits:
    """One first try plus the corrective rounds, within the same token budget as a chat turn."""
    return UsageLimits(
        request_limit=COPY_RETRIES + 1,
        total_tokens_limit=settings.llm_max_tokens_per_turn,
    )


def check_request(*, product: str, tone: str | None, count: int) -> None:
    """Refuse a request over the field caps with the field, the limit and what was given."""
    if not product.strip():
        raise ValidationFailed("What product should the ads be about?", field="product")
    if len(product) > PRODUCT_MAX_CHARS:
        raise ValidationFailed(
            f"The product description can be at most {PRODUCT_MAX_CHARS} characters "
            f"(you gave {len(product):,}).",
            field="product",
        )
    if tone is not None and len(tone) > TONE_MAX_CHARS:
        raise ValidationFailed(
            f"The tone can be at most {TONE_MAX_CHARS} characters (you gave {len(tone):,}).",
            field="tone",
        )
    if not 1 <= count <= MAX_VARIANTS:
        raise ValidationFailed(
            f"Ask for between 1 and {MAX_VARIANTS} variants (you asked for {count}).",
            field="count",
        )


def _prompt(product: str, tone: str | None) -> str:
    tone_text = f" The tone is {tone}." if tone else ""
    return f"Product: {product}.{tone_text}"


async def write_copy(
    deps: BotDeps,
    *,
    model: Model,
    product: str,
    platform: CopyPlatform,
    tone: str | None,
    count: int,
) -> AdCopy:
    """Generate validated copy inside a quota reservation (refunded if generation fails)."""
    async with billing.generation(
        sessions=lambda: deps.database.tenant(deps.org_id), org_id=deps.org_id
    ):
        result = await _COPY_AGENT.run(
            _prompt(product, tone),
            model=model,
            deps=CopyRequest(platform=platform, count=count),
            usage_limits=copy_usage_limits(deps.settings),
        )
    usage = result.usage
    async with deps.transaction() as session:
        await billing.record_usage(
            session=session,
            org_id=deps.org_id,
            user_id=deps.user_id,
            kind="ad_copy",
            model=model.model_name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
    return result.output


def copy_reply(copy: AdCopy, *, product: str, platform: CopyPlatform) -> Reply:
    limits = LIMITS[platform]
    rows = [["headline", line, str(len(line))] for line in copy.headlines]
    rows += [[limits.text_label, line, str(len(line))] for line in copy.texts]
    return Reply(
        text=f"Ad copy for *{product}* on {platform} (all within the limits):",
        table=Table(columns=["kind", "text", "chars"], rows=rows),
    )


async def ad_copy_reply(
    deps: BotDeps, *, product: str, platform: CopyPlatform, tone: str | None, count: int
) -> Reply:
    """The `copy` command and the agent's generate_ad_copy tool."""
    from bot.agent import model_for_org

    async def work() -> Reply:
        async with deps.transaction() as session:
            user = await users.get(session=session, org_id=deps.org_id, user_id=deps.user_id)
            require(user, Permission.VIEW)
        check_request(product=product, tone=tone, count=count)
        model = await model_for_org(deps)
        if model is None:
            return Reply(text=NO_MODEL, is_error=True)
        try:
            copy = await write_copy(
                deps, model=model, product=product, platform=platform, tone=tone, count=count
            )
        except AgentRunError:
            return Reply(text=GAVE_UP, is_error=True)
        return copy_reply(copy, product=product, platform=platform)

    arguments = {"product": product, "platform": platform, "tone": tone, "count": count}
    return await audited(deps, "generate_ad_copy", arguments, work)
