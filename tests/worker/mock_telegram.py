"""The Telegram Bot API's sendMessage on loopback (aiohttp), for tests and bench/alert_fanout.

Answers as the real API does: `POST /bot<token>/getMe` and `/sendMessage` (form or JSON body)
with {"ok": true, "result": <Message>}. It can enforce Telegram's flood limits: beyond
`per_bot` messages in any second, or `per_chat` in any `chat_window` seconds for one chat, it
answers 429 {"ok": false, "error_code": 429, "description": "Too Many Requests: retry after N",
"parameters": {"retry_after": N}} as Telegram does, and notes which window refused. It can
hold the n-th send unanswered (the request arrived; the sender never learns the outcome), so a
test can kill the sender then.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GIVE_UP_SECONDS = 60.0  # a guard, not a timing assert


@dataclass
class Limits:
    per_bot: int = 30  # messages in any 1 s
    per_chat: int = 3  # messages per chat in any `chat_window` s: 1/s, short bursts tolerated
    chat_window: float = 3.0


@dataclass
class Accepted:
    chat_id: int
    text: str
    message_id: int
    at: float


@dataclass
class MockTelegram:
    token: str
    limits: Limits | None = None
    hold_from: int | None = None  # from the n-th sendMessage (1-based) on, none is answered
    accepted: list[Accepted] = field(default_factory=list)
    refused: int = 0  # 429s answered
    # Which window each 429 was for ("bot" or "chat"), with the chat and monotonic time.
    refusals: list[tuple[str, int, float]] = field(default_factory=list)
    requests: int = 0
    held: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _bot_window: deque[float] = field(default_factory=deque)
    _chat_windows: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post(f"/bot{self.token}/getMe", self._get_me)
        app.router.add_post(f"/bot{self.token}/sendMessage", self._send)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def release_held(self) -> None:
        """Stop holding: held requests are answered (to whoever still listens), new ones run."""
        self.hold_from = None
        self._release.set()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            while len(self.accepted) < count:
                self._changed.clear()
                await self._changed.wait()

    async def _stats(self, request: web.Request) -> web.Response:
        """What was accepted (chat, text, message id, monotonic time) and refused: a bench runs
        the mock in its own process and reads this at the end."""
        accepted = [[m.chat_id, m.text, m.message_id, m.at] for m in self.accepted]
        return web.json_response(
            {
                "accepted": accepted,
                "refused": self.refused,
                "refusals": [list(refusal) for refusal in self.refusals],
                "requests": self.requests,
            }
        )

    async def _get_me(self, request: web.Request) -> web.Response:
        me = {"id": 123456789, "is_bot": True, "first_name": "AdPilot", "username": "AdPilotBot"}
        return web.json_response({"ok": True, "result": me})

    def _retry_after(self, chat_id: int, now: float) -> tuple[str, int] | None:
        """The full window and the seconds to wait (Telegram rounds up to whole seconds)."""
        if self.limits is None:
            return None
        bot, chat = self._bot_window, self._chat_windows[chat_id]
        while bot and bot[0] <= now - 1.0:
            bot.popleft()
        while chat and chat[0] <= now - self.limits.chat_window:
            chat.popleft()
        waits: list[tuple[float, str]] = []
        if len(bot) >= self.limits.per_bot:
            waits.append((bot[0] + 1.0 - now, "bot"))
        if len(chat) >= self.limits.per_chat:
            waits.append((chat[0] + self.limits.chat_window - now, "chat"))
        if not waits:
            bot.append(now)
            chat.append(now)
            return None
        wait, window = max(waits)
        return window, max(1, math.ceil(wait))

    async def _send(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            form: dict[str, Any] = await request.json()
        else:
            form = dict(await request.post())
        chat_id, text = int(form["chat_id"]), str(form.get("text", ""))
        self.requests += 1
        if self.hold_from is not None and self.requests >= self.hold_from:
            self.held.set()
            # The sender is killed meanwhile: this send never lands (nothing is accepted).
            await self._release.wait()
            return web.json_response({"ok": False, "error_code": 500}, status=500)
        now = time.monotonic()
        full = self._retry_after(chat_id, now)
        if full is not None:
            window, wait = full
            self.refused += 1
            self.refusals.append((window, chat_id, now))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                },
                status=429,
            )
        message_id = next(self._ids)
        self.accepted.append(Accepted(chat_id, text, message_id, now))
        self._changed.set()
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": 123456789, "is_bot": True, "first_name": "AdPilot"},
            "text": text,
        }
        return web.json_response({"ok": True, "result": result}, dumps=json.dumps)
