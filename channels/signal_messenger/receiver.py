"""The supervised receive websocket: one connection to signal-cli-rest-api, kept up for good.

In json-rpc mode `GET /v1/receive/{number}` is a websocket that pushes one frame per message.
The API hands each message to its connected sockets without waiting: a message that arrives
while no socket is connected, or while ours is still busy with the previous frame, is dropped
on the API's side. So the loop here only reads; every frame goes straight to `on_frame`, which
must not block, and a lost connection is retried within a second, then with exponential
backoff and jitter up to a cap. The URL holds the bot's number, so no log line here carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from web_min.observability import AppMetrics

log = logging.getLogger(__name__)
CHANNEL = "signal"
# Our own pings find a half-open connection (a container restarted behind a NAT) in ~1.5x this.
HEARTBEAT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
# A receive frame is one envelope: attachment metadata at most, never the file itself.
MAX_FRAME_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: `first` doubling per failed attempt up to `cap`, times a random 0.5–1.

    The jitter keeps several API replicas from reconnecting in lockstep after a restart; the
    half that is never random keeps every wait at least half the nominal one. A connection
    that stayed up for `stable` seconds starts the sequence over.
    """

    first: float = 0.5
    cap: float = 30.0
    stable: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        nominal: float = min(self.cap, self.first * 2.0 ** min(attempt, 32))
        jitter: float = (rng or random).random()
        return nominal * (0.5 + 0.5 * jitter)


def receive_url(api_url: str, number: str) -> str:
    """ws(s)://host/v1/receive/%2B49… for the API's base URL."""
    parts = urlsplit(api_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/v1/receive/{quote(number, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class SignalReceiver:
    """Reads frames into `on_frame` until stopped; `connected` says whether the socket is up."""

    def __init__(
        self,
        *,
        url: str,
        on_frame: Callable[[str | bytes], None],
        metrics: AppMetrics,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.on_frame = on_frame
        self.metrics = metrics
        self.backoff = backoff or Backoff()
        self.connected = False
        self.reconnects = 0
        self.connections = 0
        self._task: asyncio.Task[None] | None = None
        self._connected_event = asyncio.Event()
        self.metrics.channel_connected.labels(channel=CHANNEL).set(0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="signal-receiver")

    async def stop(self) -> None:
        """Close the socket and end the task (shutdown)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._set_connected(False)

    async def wait_connected(self) -> None:
        """Until the socket is up (tests and the benchmark wait on it, never on a clock)."""
        await self._connected_event.wait()

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        self.metrics.channel_connected.labels(channel=CHANNEL).set(1 if up else 0)
        if up:
            self._connected_event.set()
        else:
            self._connected_event.clear()

    async def _supervise(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT_SECONDS, sock_connect=CONNECT_TIMEOUT_SECONDS
        )
        attempt = 0
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                loop = asyncio.get_running_loop()
                opened = loop.time()
                was_up = await self._connect_and_read(http)
                if was_up and loop.time() - opened >= self.backoff.stable:
                    attempt = 0
                delay = self.backoff.delay(attempt)
                attempt += 1
                self.reconnects += 1
                self.metrics.channel_reconnects.labels(channel=CHANNEL).inc()
                log.info("signal receiver reconnecting in %.1f s (attempt %d)", delay, attempt)
                await asyncio.sleep(delay)

    async def _connect_and_read(self, http: aiohttp.ClientSession) -> bool:
        """One connection, read until it ends; whether it was ever up. Never raises but cancel."""
        was_up = False
        try:
            async with http.ws_connect(
                self.url, heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_FRAME_BYTES
            ) as socket:
                was_up = True
                self.connections += 1
                self._set_connected(True)
                log.info("signal receiver connected")
                await self._read(socket)
            log.warning("signal receiver: the API closed the socket (code %s)", socket.close_code)
        except aiohttp.WSServerHandshakeError as exc:
            # 400/404: json-rpc mode is off, or the number is not registered with the API.
            log.warning("signal receiver: the websocket was refused (HTTP %s)", exc.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("signal receiver: connection failed or lost (%s)", type(exc).__name__)
        finally:
            self._set_connected(False)
        return was_up

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                try:
                    self.on_frame(message.data)
                except Exception:
                    # A bug in handling one frame must not take the socket down with it.
                    log.exception("signal receiver: a frame could not be handed on")
            elif message.type == aiohttp.WSMsgType.ERROR:
                log.warning("signal receiver: socket error (%s)", type(socket.exception()).__name__)
                return
