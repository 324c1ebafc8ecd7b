"""Model construction from settings: OpenAI(-compatible) and Anthropic providers, fallback chain."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from core.config import Settings

# A chat answer or a set of ad copy; also keeps Anthropic on plain (non-streamed) requests.
MAX_OUTPUT_TOKENS = 2048

# Tests pass a factory whose client has a mock transport; production uses the default.
HttpClientFactory = Callable[[Settings], httpx2.AsyncClient]


def default_http_client(settings: Settings) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=settings.http_timeout_seconds)


def build_model(
    name: str,
    settings: Settings,
    *,
    sdk_retries: int = 2,
    http_client: HttpClientFactory = default_http_client,
) -> Model:
    """A pydantic-ai model for 'openai:NAME' or 'anthropic:NAME' honouring our base URLs and keys.

    Other provider prefixes go to pydantic-ai's own inference (reading its usual env vars).
    """
    provider, _, model_name = name.partition(":")
    if provider == "openai" and model_name:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        openai_client = AsyncOpenAI(
            api_key=key or "not-needed",  # local OpenAI-compatible servers often need no key
            base_url=settings.openai_base_url,
            max_retries=sdk_retries,
            http_client=http_client(settings),
        )
        return OpenAIChatModel(
            model_name,
            provider=OpenAIProvider(openai_client=openai_client),
            settings=ModelSettings(max_tokens=MAX_OUTPUT_TOKENS),
        )
    if provider == "anthropic" and model_name:
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
        anthropic_client = AsyncAnthropic(
            api_key=key,
            base_url=settings.anthropic_base_url,
            max_retries=sdk_retries,
            http_client=http_client(settings),
        )
        return AnthropicModel(
            model_name,
            provider=AnthropicProvider(anthropic_client=anthropic_client),
            settings=ModelSettings(max_tokens=MAX_OUTPUT_TOKENS),
        )
    return infer_model(name)


def build_chain(
    primary: str,
    fallback: str | None,
    settings: Settings,
    *,
    http_client: HttpClientFactory = default_http_client,
) -> Model:
    """The primary model, wrapped in a FallbackModel when a fallback is configured."""
    if not fallback or fallback == primary:
        return build_model(primary, settings, http_client=http_client)
    # With a fallback ready, SDK-level retries would only delay the switch.
    return FallbackModel(
        build_model(primary, settings, sdk_retries=0, http_client=http_client),
        build_model(fallback, settings, sdk_retries=0, http_client=http_client),
    )
