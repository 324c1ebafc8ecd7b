"""Loopback helpers every benchmark shares: a free port, and waiting for a server to answer."""

from __future__ import annotations

import asyncio
import socket

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free now; take it soon)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_up(port: int, path: str = "/healthz", attempts: int = 300) -> None:
    """Until an HTTP server on `port` answers `path` at all (0.1 s apart); RuntimeError after."""
    async with httpx.AsyncClient() as http:
        for _ in range(attempts):
            try:
                await http.get(f"http://127.0.0.1:{port}{path}")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"server on {port} never answered")
