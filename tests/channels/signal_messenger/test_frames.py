"""Receive frames to messages: only data messages from someone else, nothing here ever raises."""

from __future__ import annotations

import json

import pytest

from channels.signal_messenger.frames import SignalMessage, Skipped, group_recipient, parse_frame
from tests.channels.signal_messenger import payloads as p


def parse(frame: dict[str, object] | str | bytes) -> SignalMessage | Skipped:
    return parse_frame(
        frame if isinstance(frame, str | bytes) else json.dumps(frame), own_number=p.BOT
    )


def test_a_direct_text_is_a_message_from_its_e164_sender() -> None:
    message = parse(p.data_message(p.ADMIN, "report 7d", timestamp=1_700_000_123_000))
    assert message == SignalMessage(
        source_number=p.ADMIN,
        source_uuid=p.UUIDS[p.ADMIN],
        source_name="Avery",
        timestamp=1_700_000_123_000,
        text="report 7d",
        group=None,
        mentions_bot=False,
        content="text",
    )
    assert message.conversation_id == p.ADMIN
    assert message.sender == p.UUIDS[p.ADMIN]


def test_a_group_text_replies_to_the_group_as_the_api_names_it() -> None:
    message = parse(p.data_message(p.ADMIN, "campaigns", group="ops"))
    assert isinstance(message, SignalMessage)
    assert message.group == p.group_recipient("ops")
    assert message.conversation_id == p.group_recipient("ops")


def test_a_mention_of_the_bot_is_seen_and_its_placeholder_removed() -> None:
    frame = p.data_message(p.ADMIN, "\ufffc campaigns", group="ops", mentions=[p.mention(p.BOT)])
    message = parse(frame)
    assert isinstance(message, SignalMessage)
    assert (message.text, message.mentions_bot) == ("campaigns", True)
    other = parse(
        p.data_message(p.ADMIN, "\ufffc hi", group="ops", mentions=[p.mention(p.MANAGER)])
    )
    assert isinstance(other, SignalMessage)
    assert other.mentions_bot is False


def test_a_sender_without_a_shared_number_is_kept_by_uuid() -> None:
    frame = p.data_message(None, "help", uuid="e5f6a7b8-5555-4eee-8fff-56789abcdef0")
    message = parse(frame)
    assert isinstance(message, SignalMessage)
    assert message.source_number is None
    assert message.conversation_id == "e5f6a7b8-5555-4eee-8fff-56789abcdef0"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (p.receipt(p.ADMIN), "receipt"),
        (p.typing(p.ADMIN), "typing indicator"),
        (p.sync_sent("hello", p.ADMIN), "the bot's own message"),
        (p.data_message(p.BOT, "approve ABCD"), "the bot's own message"),
        (p.reaction(p.ADMIN, 1_800_000_000_000), "reaction"),
    ],
)
def test_receipts_typing_sync_own_messages_and_reactions_are_ignored(
    frame: dict[str, object], reason: str
) -> None:
    assert parse(frame) == Skipped("ignored", reason)


def test_a_group_update_and_a_timer_change_are_ignored() -> None:
    update = p.data_message(p.ADMIN, None, group="ops")
    update["envelope"]["dataMessage"]["groupInfo"]["type"] = "UPDATE"
    assert parse(update) == Skipped("ignored", "group update")
    timer = p.data_message(p.ADMIN, None, isExpirationUpdate=True, expiresInSeconds=3600)
    assert parse(timer) == Skipped("ignored", "disappearing-messages timer change")


def test_an_envelope_signal_cli_could_not_decrypt_is_ignored() -> None:
    frame = p.data_message(p.ADMIN, None)
    del frame["envelope"]["dataMessage"]
    frame["exception"] = {"message": "Invalid message", "type": "ProtocolInvalidMessageException"}
    assert parse(frame) == Skipped("ignored", "a message signal-cli could not decrypt")


@pytest.mark.parametrize(
    ("frame", "content"),
    [(p.sticker(p.ADMIN), "sticker"), (p.photo(p.ADMIN), "attachment")],
)
def test_stickers_and_bare_attachments_are_messages_without_text(
    frame: dict[str, object], content: str
) -> None:
    message = parse(frame)
    assert isinstance(message, SignalMessage)
    assert (message.content, message.text) == (content, "")


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        b"\xff\xfe\x00",
        "[" * 100_000 + "]" * 100_000,
        '{"timestamp": ' + "9" * 5000 + "}",
        "[]",
        "42",
        "null",
        '{"error": "Couldn\'t get receive channel"}',
        '{"envelope": {}, "account": "+4915100000001"}',
        '{"envelope": {"timestamp": "1700000000000"}, "account": "+4915100000001"}',
        '{"envelope": {"timestamp": 1700000000000, "dataMessage": "hi"}, '
        '"account": "+4915100000001"}',
        '{"envelope": {"timestamp": 1700000000000}}',
        '{"jsonrpc": "2.0", "method": "receive", "params": {}}',
    ],
)
def test_frames_that_are_not_json_or_of_an_unknown_shape_are_malformed(frame: str | bytes) -> None:
    result = parse(frame)
    assert isinstance(result, Skipped)
    assert result.outcome == "malformed"


def test_a_frame_for_another_account_is_not_ours() -> None:
    frame = p.data_message(p.ADMIN, "campaigns")
    frame["account"] = "+4915177777777"
    assert parse(frame) == Skipped("malformed", "a frame for another account")


def test_a_group_id_of_the_wrong_size_is_refused() -> None:
    frame = p.data_message(p.ADMIN, "campaigns", group="ops")
    frame["envelope"]["dataMessage"]["groupInfo"]["groupId"] = "c2hvcnQ="
    assert parse(frame) == Skipped("malformed", "a group id of an unknown shape")
    assert group_recipient("not base64!") is None
