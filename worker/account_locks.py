"""A per-account Redis lock with expiry: one token refresh of an account at a time, everywhere.

`SET NX PX` takes it; release deletes it only while it is still ours (a compare-and-delete
script), so a holder that outlived the expiry never frees someone else's lock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

KEY_PREFIX = "adpilot:token-refresh:"
# Longer than a refresh call with the adapters' retries; a killed holder frees it after this.
LOCK_SECONDS = 120

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


@asynccontextmanager
async def refresh_lock(redis: Any, account_id: uuid.UUID) -> AsyncIterator[bool]:
    """Yields whether the lock was taken; a False means another worker is refreshing now."""
    key = f"{KEY_PREFIX}{account_id}"
    holder = uuid.uuid4().hex
    taken = bool(await redis.set(key, holder, nx=True, px=LOCK_SECONDS * 1000))
    try:
        yield taken
    finally:
        if taken:
            await asyncio.shield(redis.eval(_RELEASE, 1, key, holder))
