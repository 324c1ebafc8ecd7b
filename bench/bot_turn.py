"""The bot's own overhead per turn, on SQLite and PostgreSQL: `python -m bench.bot_turn`.

Command path (`report 7d`, `campaigns`) and agent path with a zero-latency FunctionModel
(history load and save included; one variant answers directly, one calls a tool first), over
the seeded demo org. Target: p50 < 20 ms. PostgreSQL gets its own database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.engine import Bot, TurnContext
from bot.replies import Reply
from channels.cli import demo_seed
from core import schema
from core.config import Settings, reset_settings_cache
from core.db import Database
from core.orgs import service as orgs
from core.users import service as users

PG_ADMIN_URL = os.environ.get(
    "ADPILOT_BENCH_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "adpilot_bench_bot_turn"
WARMUP = 20


def direct_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A model that answers at once: the agent's overhead with no tool call."""
    return ModelResponse(parts=[TextPart("Spend is steady; CPA is up on TikTok.")])


def tool_then_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A model that calls one read tool, then answers: one real tool round-trip per turn."""
    last = messages[-1]
    if any(isinstance(part, ToolReturnPart) for part in getattr(last, "parts", [])):
        return ModelResponse(parts=[TextPart("Here are your campaigns.")])
    names = [tool.name for tool in info.function_tools]
    name = "list_campaigns" if "list_campaigns" in names else names[0]
    return ModelResponse(parts=[ToolCallPart(tool_name=name, args={})])


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def measure(turn: Callable[[], Awaitable[Reply]], turns: int) -> list[float]:
    for _ in range(WARMUP):
        await turn()
    samples: list[float] = []
    for _ in range(turns):
        started = time.perf_counter()
        reply = await turn()
        samples.append((time.perf_counter() - started) * 1000)
        if reply.is_error:
            raise RuntimeError(f"benchmark turn failed: {reply.text}")
    return samples


def turn_of(bot: Bot, ctx: TurnContext, message: str) -> Callable[[], Awaitable[Reply]]:
    def turn() -> Awaitable[Reply]:
        return bot.handle_text(ctx, message)

    return turn


async def context_for(database: Database, conversation: str) -> TurnContext:
    async with database.system() as session:
        org = await orgs.get_by_slug(session=session, slug=demo_seed.DEMO_SLUG)
        admin = await users.first_admin(session=session, org_id=org.id)
    return TurnContext(
        org_id=org.id,
        user_id=admin.id,
        channel="console",
        workspace="bench",
        conversation_id=f"bench:{conversation}:{uuid.uuid4().hex[:8]}",
    )


async def bench_backend(
    label: str, settings: Settings, turns: int
) -> list[tuple[str, str, list[float]]]:
    await demo_seed.seed(settings, slug=demo_seed.DEMO_SLUG, progress=lambda _message: None)
    database = Database(settings)
    registry = demo_seed.embedded_registry(settings, database)
    results: list[tuple[str, str, list[float]]] = []
    try:
        command_bot = Bot(database=database, registry=registry, settings=settings)
        for command in ("report 7d", "campaigns"):
            ctx = await context_for(database, "command")
            samples = await measure(turn_of(command_bot, ctx, command), turns)
            results.append((label, f"command `{command}`", samples))
        for name, function in (("answer", direct_answer), ("1 tool call", tool_then_answer)):
            agent_bot = Bot(
                database=database,
                registry=registry,
                settings=settings,
                model=FunctionModel(function),
            )
            ctx = await context_for(database, name)
            samples = await measure(turn_of(agent_bot, ctx, "how are we doing this week?"), turns)
            results.append((label, f"agent, {name}", samples))
    finally:
        await database.dispose()
    return results


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def settings_for(url: str) -> Settings:
    os.environ["ADPILOT_DATABASE_URL"] = url
    reset_settings_cache()
    return Settings(database_url=url)


async def run(turns: int, backends: list[str]) -> list[tuple[str, str, list[float]]]:
    results: list[tuple[str, str, list[float]]] = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await schema.upgrade_async(url)
            results += await bench_backend("SQLite", settings_for(url), turns)
    if "postgresql" in backends:
        await _admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{PG_DB}"')
        try:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"
            await schema.upgrade_async(url)
            results += await bench_backend("PostgreSQL", settings_for(url), turns)
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    results = asyncio.run(run(args.turns, backends))
    print(f"bot turn overhead, {args.turns} turns each (+{WARMUP} warm-up)")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'backend':<11} {'path':<24} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for backend, path, samples in results:
        print(
            f"{backend:<11} {path:<24} {percentile(samples, 0.5):>8.2f} "
            f"{percentile(samples, 0.95):>8.2f} {statistics.fmean(samples):>8.2f}"
        )


if __name__ == "__main__":
    main()
