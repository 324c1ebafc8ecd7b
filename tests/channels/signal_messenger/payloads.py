"""Receive frames exactly as signal-cli-rest-api pushes them in json-rpc mode.

Field for field what signal-cli's JsonMessageEnvelope / JsonDataMessage / JsonReceiptMessage /
JsonTypingMessage / JsonSyncMessage records serialise (null members included where Jackson
keeps them), wrapped as `{"envelope": …, "account": …}` by the API.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import uuid as uuid_module
from typing import Any

BOT = "+4915100000001"
ADMIN = "+4915111111111"
MANAGER = "+4915122222222"
STRANGER = "+4915199999999"
UUIDS = {
    BOT: "0b1f7c2e-5a4d-4c3b-9a8e-0d1c2b3a4f50",
    ADMIN: "a1b2c3d4-1111-4aaa-8bbb-123456789abc",
    MANAGER: "b2c3d4e5-2222-4bbb-8ccc-23456789abcd",
    STRANGER: "c3d4e5f6-3333-4ccc-8ddd-3456789abcde",
}
NAMES = {ADMIN: "Avery", MANAGER: "Morgan", STRANGER: "Sam", BOT: "AdPilot"}
_timestamps = itertools.count(1_700_000_000_000, 1000)


def account_uuid(number: str) -> str:
    """A stable ACI for a number the table above does not name (each account has its own)."""
    return str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"signal:{number}"))


def next_timestamp() -> int:
    return next(_timestamps)


def group_id(name: str) -> str:
    """signal-cli's groupId: base64 of the 32-byte group identifier."""
    return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()


def group_recipient(name: str) -> str:
    """The same group as the REST API names it for sending."""
    return "group." + base64.b64encode(group_id(name).encode()).decode()


def _envelope(source: str | None, timestamp: int, *, uuid: str | None = None) -> dict[str, Any]:
    return {
        "source": source or uuid,
        "sourceNumber": source,
        "sourceUuid": uuid or UUIDS.get(source or "") or account_uuid(source or ""),
        "sourceName": NAMES.get(source or "", "Someone"),
        "sourceDevice": 1,
        "timestamp": timestamp,
        "serverReceivedTimestamp": timestamp + 40,
        "serverDeliveredTimestamp": timestamp + 95,
    }


def data_message(
    source: str | None,
    text: str | None,
    *,
    timestamp: int | None = None,
    group: str | None = None,
    uuid: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A dataMessage envelope frame: a text (or not) from `source`, in a group when named."""
    stamp = next_timestamp() if timestamp is None else timestamp
    data: dict[str, Any] = {
        "timestamp": stamp,
        "message": text,
        "expiresInSeconds": 0,
        "isExpirationUpdate": False,
        "viewOnce": False,
    }
    if group is not None:
        data["groupInfo"] = {
            "groupId": group_id(group),
            "groupName": group,
            "revision": 7,
            "type": "DELIVER",
        }
    data.update(extra)
    return {
        "envelope": {**_envelope(source, stamp, uuid=uuid), "dataMessage": data},
        "account": BOT,
    }


def mention(number: str, start: int = 0) -> dict[str, Any]:
    return {"name": number, "number": number, "uuid": UUIDS[number], "start": start, "length": 1}


def receipt(source: str) -> dict[str, Any]:
    stamp = next_timestamp()
    receipt = {
        "when": stamp,
        "isDelivery": False,
        "isRead": True,
        "isViewed": False,
        "timestamps": [stamp - 5000],
    }
    return {"envelope": {**_envelope(source, stamp), "receiptMessage": receipt}, "account": BOT}


def typing(source: str) -> dict[str, Any]:
    stamp = next_timestamp()
    typing = {"action": "STARTED", "timestamp": stamp}
    return {"envelope": {**_envelope(source, stamp), "typingMessage": typing}, "account": BOT}


def sync_sent(text: str, destination: str) -> dict[str, Any]:
    """What a message sent from the bot's own linked phone looks like (a sync transcript)."""
    stamp = next_timestamp()
    sent = {
        "destination": destination,
        "destinationNumber": destination,
        "destinationUuid": UUIDS[destination],
        "timestamp": stamp,
        "message": text,
        "expiresInSeconds": 0,
        "viewOnce": False,
    }
    return {
        "envelope": {**_envelope(BOT, stamp), "syncMessage": {"sentMessage": sent}},
        "account": BOT,
    }


def reaction(source: str, target_timestamp: int) -> dict[str, Any]:
    return data_message(
        source,
        None,
        reaction={
            "emoji": "👍",
            "targetAuthor": BOT,
            "targetAuthorNumber": BOT,
            "targetAuthorUuid": UUIDS[BOT],
            "targetSentTimestamp": target_timestamp,
            "isRemove": False,
        },
    )


def sticker(source: str, *, group: str | None = None) -> dict[str, Any]:
    return data_message(
        source,
        None,
        group=group,
        sticker={"packId": "e61fc1b3b1a6c1d0f2a9b1f2c3d4e5f6", "stickerId": 3},
    )


def photo(source: str) -> dict[str, Any]:
    return data_message(
        source,
        None,
        attachments=[
            {
                "contentType": "image/jpeg",
                "filename": None,
                "id": "qPLmZ0B6hFYbs2iAqxN1.jpg",
                "size": 48213,
                "width": 1024,
                "height": 768,
                "caption": None,
                "uploadTimestamp": 1_700_000_000_321,
            }
        ],
    )


def frame(payload: dict[str, Any]) -> str:
    return json.dumps(payload)
