"""signal-cli-rest-api in json-rpc mode on loopback: the receive websocket and `POST /v2/send`.

Behaves as the real API does where the code depends on it: the websocket at
`/v1/receive/{number}` pushes one text frame per message to every connected socket (and
drops what arrives while none is), `/v2/send` validates recipients like the API (E.164,
UUID, `group.<base64(base64 of 32 bytes)>`) and answers 201 `{"timestamp": "…"}`, or the
list form newer releases return, or a scripted failure with the API's own error bodies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_E164 = re.compile(r"\+[1-9]\d{6,14}")
# A guard, not a timing assert: a broken receiver fails a test instead of hanging the run.
GIVE_UP_SECONDS = 20.0


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _valid_recipient(recipient: str) -> bool:
    if recipient.startswith("group."):
        try:
            inner = base64.b64decode(recipient.removeprefix("group."), validate=True)
            return len(base64.b64decode(inner, validate=True)) == 32
        except (binascii.Error, ValueError):
            return False
    if _E164.fullmatch(recipient):
        return True
    try:
        uuid.UUID(recipient)
    except ValueError:
        return False
    return True


class FrameCounter:
    """Wraps a receiver's on_frame: counts what the socket delivered, so a test can wait for it."""

    def __init__(self, on_frame: Callable[[str | bytes], None]) -> None:
        self.on_frame = on_frame
        self.seen = 0
        self._changed = asyncio.Event()

    def __call__(self, frame: str | bytes) -> None:
        self.seen += 1
        self._changed.set()
        self.on_frame(frame)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            while self.seen < count:
                self._changed.clear()
                await self._changed.wait()


class MockSignalApi:
    def __init__(self, number: str, *, list_responses: bool = False) -> None:
        self.number = number
        self.list_responses = list_responses
        self.sent: list[dict[str, Any]] = []
        self.stamps: list[str | None] = []  # the timestamp each send was answered with
        self.failures: list[Failure] = []
        self.connections = 0
        self.refuse_sockets = 0  # the next N websocket handshakes get a 400
        self._sockets: dict[web.WebSocketResponse, web.Request] = {}
        self._timestamps = itertools.count(1_800_000_000_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/receive/{number}", self._receive)
        app.router.add_post("/v2/send", self._send)
        app.router.add_get("/v1/about", self._about)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the receive side ---------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["number"] != self.number or self.refuse_sockets > 0:
            self.refuse_sockets = max(0, self.refuse_sockets - 1)
            await self._notify()
            return web.json_response({"error": "Couldn't process request"}, status=400)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets[socket] = request
        self.connections += 1
        await self._notify()
        try:
            async for _ in socket:  # the API reads (and ignores) what a client sends
                pass
        finally:
            self._sockets.pop(socket, None)
            await self._notify()
        return socket

    async def wait_for(self, *, connections: int) -> None:
        """Until this many sockets were ever opened and one is open now."""
        async with asyncio.timeout(GIVE_UP_SECONDS), self._changed:
            await self._changed.wait_for(
                lambda: self.connections >= connections and bool(self._sockets)
            )

    async def wait_for_sends(self, count: int) -> None:
        """Until this many messages were sent through /v2/send."""
        async with asyncio.timeout(GIVE_UP_SECONDS), self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= count)

    async def wait_disconnected(self) -> None:
        async with asyncio.timeout(GIVE_UP_SECONDS), self._changed:
            await self._changed.wait_for(lambda: not self._sockets)

    async def push(self, *frames: dict[str, Any] | str | bytes) -> None:
        """Each frame to every connected socket, in order (lost when none is connected)."""
        for frame in frames:
            text = json.dumps(frame) if isinstance(frame, dict) else frame
            for socket in list(self._sockets):
                if isinstance(text, bytes):
                    await socket.send_bytes(text)
                else:
                    await socket.send_str(text)

    async def drop(self) -> None:
        """Cut every socket as a crashed container would: no close frame, the TCP link gone."""
        for request in list(self._sockets.values()):
            transport = request.transport
            if transport is not None:
                transport.abort()

    async def close_sockets(self, code: int = 1001) -> None:
        """Close every socket properly (the API going away on a restart)."""
        for socket in list(self._sockets):
            await socket.close(code=code)

    # --- the send side ------------------------------------------------------------------------

    async def _about(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "versions": ["v1", "v2"],
                "build": 2,
                "mode": "json-rpc",
                "version": "0.97",
                "capabilities": {"v2/send": ["quotes", "mentions"]},
            }
        )

    async def _send(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            error = "Couldn't process request - invalid request"
            return web.json_response({"error": error}, status=400)
        recipients = payload.get("recipients") or []
        if not recipients:
            error = "Couldn't process request - please provide at least one recipient"
            return web.json_response({"error": error}, status=400)
        if payload.get("number") != self.number:
            return web.json_response({"error": "Unknown account"}, status=400)
        for recipient in recipients:
            if not _valid_recipient(recipient):
                error = f"Invalid identifier {recipient}"
                return web.json_response({"error": error}, status=400)
        self.sent.append(payload)
        if self.failures:
            failure = self.failures.pop(0)
            self.stamps.append(None)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        stamp = str(next(self._timestamps))
        self.stamps.append(stamp)
        await self._notify()
        answer: dict[str, Any] = {"timestamp": stamp}
        return web.json_response([answer] if self.list_responses else answer, status=201)

    def messages_to(self, recipient: str) -> list[dict[str, Any]]:
        return [payload for payload in self.sent if payload["recipients"] == [recipient]]

    def texts_to(self, recipient: str) -> list[str]:
        return [str(payload["message"]) for payload in self.messages_to(recipient)]
