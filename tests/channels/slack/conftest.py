"""A loopback stand-in for Slack's Web API and response_url (slack_sdk speaks aiohttp)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class MockSlack:
    """Answers as Slack does; records each call's method and parameters."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, web.Response] = field(default_factory=dict)
    server: TestServer | None = None
    # The bearer token each Web API call carried, in call order (per-workspace tokens).
    tokens: list[tuple[str, str]] = field(default_factory=list)
    # users.info answers by user id (the `user` object of the real response).
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if request.content_type == "application/json":
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        params.update(request.query)  # some methods send their arguments as query parameters
        self.calls.append((method, params))
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.tokens.append((method, bearer))
        if method in self.failures:
            return self.failures[method]
        assert self.server is not None
        answers: dict[str, dict[str, Any]] = {
            "chat.postMessage": {"ok": True, "channel": params.get("channel"), "ts": "1700.0001"},
            "chat.update": {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")},
            "files.getUploadURLExternal": {
                "ok": True,
                "upload_url": str(self.server.make_url("/upload/v1/abc")),
                "file_id": "F123",
            },
            "files.completeUploadExternal": {"ok": True, "files": [{"id": "F123"}]},
            # oauth.v2.access as Slack answers a bot install (no user scopes asked).
            "oauth.v2.access": {
                "ok": True,
                "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
                "token_type": "bot",
                "scope": "commands,chat:write,app_mentions:read",
                "bot_user_id": "U0KRQLJ9H",
                "app_id": "A0KRD7HC3",
                "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "U1234", "scope": "", "token_type": "user"},
            },
            "users.info": (
                {"ok": True, "user": self.users[params.get("user", "")]}
                if params.get("user", "") in self.users
                else {"ok": False, "error": "user_not_found"}
            ),
            "auth.test": {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "adpilot",
                "team_id": "T111",
                "user_id": "UBOT",
                "bot_id": "BBOT",
            },
        }
        return web.json_response(answers.get(method, {"ok": False, "error": "unknown_method"}))

    async def respond(self, request: web.Request) -> web.Response:
        self.calls.append(("response_url", json.loads(await request.read())))
        return web.Response(text="ok")

    async def wait_for(self, method: str, count: int = 1) -> list[dict[str, Any]]:
        """The calls of `method` once there are `count` (work after an ack runs on its own)."""
        for _ in range(500):  # a bounded wait (10 s), not a timing expectation
            if len(self.of(method)) >= count:
                return self.of(method)
            await asyncio.sleep(0.02)
        raise AssertionError(f"{method} was called {len(self.of(method))} times, not {count}")

    async def upload(self, request: web.Request) -> web.Response:
        self.calls.append(("upload", {"bytes": len(await request.read())}))
        return web.Response(text="OK - 1234")


@pytest.fixture
async def slack() -> AsyncIterator[MockSlack]:
    mock = MockSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", mock.handle)
    app.router.add_get("/api/{method}", mock.handle)  # users.info and other reads are GETs
    app.router.add_post("/upload/v1/abc", mock.upload)
    app.router.add_post("/respond", mock.respond)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    mock.server = server
    yield mock
    await server.close()
