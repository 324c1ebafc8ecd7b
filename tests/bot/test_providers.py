"""The real OpenAI and Anthropic providers at the HTTP level (respx), incl. fallback on a 500.

The provider SDKs speak httpx2, which respx does not patch; a tiny transport hands each
request to a respx router as an httpx request, so routes and payloads are plain respx.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import httpx2
import pytest
import respx
from pydantic import SecretStr
from pydantic_ai import models as ai_models

from bot.engine import Bot
from bot.models import build_chain
from core.config import Settings
from core.db import Database
from core.ports import PlatformRegistry
from tests.bot.conftest import World

OPENAI = "http://llm.local/v1"
ANTHROPIC = "http://anthropic.local"


@pytest.fixture(autouse=True)
def _allow_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Requests go to the respx router through RespxTransport, never to the network.
    monkeypatch.setattr(ai_models, "ALLOW_MODEL_REQUESTS", True)


class RespxTransport(httpx2.AsyncBaseTransport):
    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        mirrored = httpx.Request(
            request.method, str(request.url), headers=list(request.headers.items()), content=body
        )
        response = await self.router.async_handler(mirrored)
        return httpx2.Response(
            response.status_code, headers=list(response.headers.items()), content=response.content
        )


def llm_settings(settings: Settings, **changes: Any) -> Settings:
    base = {
        "openai_base_url": OPENAI,
        "openai_api_key": SecretStr("sk-test"),
        "anthropic_base_url": ANTHROPIC,
        "anthropic_api_key": SecretStr("ak-test"),
    }
    return settings.model_copy(update={**base, **changes})


def chat_completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
    }


TOOL_CALL = chat_completion(
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "list_campaigns", "arguments": "{}"},
            }
        ],
    },
    "tool_calls",
)
FINAL = chat_completion({"role": "assistant", "content": "You have 3 campaigns."}, "stop")

ANTHROPIC_FINAL = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Claude says: 3 campaigns."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 40, "output_tokens": 8},
}


def make_bot(database: Database, registry: PlatformRegistry, settings: Settings, router) -> Bot:
    model = build_chain(
        settings.llm_model or "",
        settings.llm_fallback_model,
        settings,
        http_client=lambda _s: httpx2.AsyncClient(transport=RespxTransport(router)),
    )
    return Bot(database=database, registry=registry, settings=settings, model=model)


async def test_openai_tool_call_then_answer(
    database: Database, registry: PlatformRegistry, settings: Settings, world: World
) -> None:
    settings = llm_settings(settings, llm_model="openai:gpt-4o")
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{OPENAI}/chat/completions").mock(
            side_effect=[httpx.Response(200, json=TOOL_CALL), httpx.Response(200, json=FINAL)]
        )
        bot = make_bot(database, registry, settings, router)
        reply = await bot.handle_text(world.ctx(), "what campaigns do we have?")
    assert reply.text == "You have 3 campaigns."
    assert route.call_count == 2
    first = json.loads(route.calls[0].request.content)
    assert first["model"] == "gpt-4o"
    tool_names = {tool["function"]["name"] for tool in first["tools"]}
    assert "pause_campaign" in tool_names
    assert not any("approve" in name for name in tool_names)
    assert "Currency: USD" in json.dumps(first["messages"])
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test"
    second = json.loads(route.calls[1].request.content)
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_abc"
    assert "Winter Boots" in tool_message["content"]


async def test_openai_500_falls_back_to_anthropic(
    database: Database, registry: PlatformRegistry, settings: Settings, world: World
) -> None:
    settings = llm_settings(
        settings, llm_model="openai:gpt-4o", llm_fallback_model="anthropic:claude-sonnet-4-6"
    )
    with respx.mock(assert_all_called=True) as router:
        primary = router.post(f"{OPENAI}/chat/completions").mock(
            return_value=httpx.Response(500, json={"error": {"message": "boom", "type": "server"}})
        )
        secondary = router.post(f"{ANTHROPIC}/v1/messages").mock(
            return_value=httpx.Response(200, json=ANTHROPIC_FINAL)
        )
        bot = make_bot(database, registry, settings, router)
        reply = await bot.handle_text(world.ctx(), "how many campaigns?")
    assert reply.text == "Claude says: 3 campaigns."
    # SDK retries are off when a fallback exists: one failed call, then the switch.
    assert primary.call_count == 1
    assert secondary.call_count == 1
    headers = secondary.calls[0].request.headers
    assert "ak-test" in (headers.get("x-api-key", "") + headers.get("authorization", ""))


async def test_both_providers_down_is_friendly(
    database: Database, registry: PlatformRegistry, settings: Settings, world: World
) -> None:
    settings = llm_settings(
        settings, llm_model="openai:gpt-4o", llm_fallback_model="anthropic:claude-sonnet-4-6"
    )
    with respx.mock() as router:
        router.post(f"{OPENAI}/chat/completions").mock(return_value=httpx.Response(500, json={}))
        router.post(f"{ANTHROPIC}/v1/messages").mock(return_value=httpx.Response(529, json={}))
        bot = make_bot(database, registry, settings, router)
        reply = await bot.handle_text(world.ctx(), "how many campaigns?")
    assert reply.is_error
    assert "help" in reply.text


async def test_budget_model_for_free_tier(
    settings: Settings, world: World, database: Database
) -> None:
    from bot.agent import model_for_org
    from bot.deps import BotDeps

    settings = llm_settings(
        settings, llm_model="openai:gpt-4o", llm_budget_model="openai:gpt-4o-mini"
    )
    deps = BotDeps(
        database=database,
        registry=PlatformRegistry(),
        settings=settings,
        org_id=world.org_id,
        user_id=world.admin_id,
        channel="console",
        conversation_id="x",
    )
    model = await model_for_org(deps)
    assert model is not None
    assert model.model_name == "gpt-4o-mini"


async def test_models_are_built_once_per_bot_not_per_turn(
    settings: Settings, world: World, database: Database
) -> None:
    from bot.agent import model_for_org
    from bot.engine import Bot

    bot = Bot(
        database=database,
        registry=PlatformRegistry(),
        settings=llm_settings(settings, llm_model="openai:gpt-4o"),
    )
    first = await model_for_org(bot.deps(world.ctx()))
    second = await model_for_org(bot.deps(world.ctx("manager")))
    assert first is not None
    assert first is second
