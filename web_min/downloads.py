"""GET /downloads/<file key>?expires=…&sig=…: an export behind a signed, expiring link.

The signature is checked before anything is read: a bad one is 403, an expired one 410, and
only then is the store asked for the file (404 when it is gone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from core.config import Settings
from core.errors import NotFound
from core.exports import links
from core.exports.files import FileStore

_TYPES = {".csv": "text/csv; charset=utf-8", ".png": "image/png"}


def build_router() -> APIRouter:
    router = APIRouter()

    @router.get("/downloads/{key:path}")
    async def download(
        request: Request,
        key: str,
        expires: Annotated[str, Query(max_length=20)] = "",
        sig: Annotated[str, Query(max_length=128)] = "",
    ) -> Response:
        settings: Settings = request.app.state.settings
        store: FileStore = request.app.state.file_store
        links.verify(settings, key, expires, sig)
        data = await store.get(key)
        if data is None:
            raise NotFound("This export is no longer available; ask for a new one.")
        name = key.rsplit("/", 1)[-1]
        suffix = name[name.rfind(".") :] if "." in name else ""
        return Response(
            content=data,
            media_type=_TYPES.get(suffix, "application/octet-stream"),
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router
