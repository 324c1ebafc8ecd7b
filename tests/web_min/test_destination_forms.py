"""The destination and delivery-policy forms: each address in its channel's own terms."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Any

import pytest

from core.config import Settings
from core.notify.models import Destination
from web_min.destination_forms import (
    DestinationForm,
    PolicyForm,
    parse_destination,
    parse_policy,
    read_destination_form,
)

HOOK = "https://hooks.slack.com/services/T0001/B0002/abcdefSECRET"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def _form(kind: str, address: str, **extra: str) -> DestinationForm:
    return read_destination_form({"kind": kind, "address": address, "takes_alerts": "on", **extra})


@pytest.mark.parametrize(
    ("kind", "address", "stored"),
    [
        ("slack", "C0123ABCD", "C0123ABCD"),
        ("telegram", "-1001234567890", "-1001234567890"),
        ("whatsapp", "+49 151 1234 5678", "+4915112345678"),
        ("signal", "0049 151 12345678", "+4915112345678"),
        ("signal", "group.aGVsbG8gd29ybGQgZ3JvdXA=", "group.aGVsbG8gd29ybGQgZ3JvdXA="),
        ("email", " Ops@Example.com ", "ops@example.com"),
        ("slack_webhook", HOOK, "T0001/B0002"),
    ],
)
def test_each_kind_is_stored_in_its_normal_form(kind: str, address: str, stored: str) -> None:
    parsed = parse_destination(_form(kind, address), _settings())
    assert parsed is not None
    assert parsed.conversation_id == stored
    assert parsed.kinds == {"alerts": True}
    assert parsed.secret == (HOOK if kind == "slack_webhook" else None)


@pytest.mark.parametrize(
    ("kind", "address", "message"),
    [
        ("slack", "#alerts", "channel ID looks like"),
        ("telegram", "@mychannel", "is a number"),
        ("whatsapp", "0151 1234567", "international form"),
        ("signal", "group.x", "group.<base64 id>"),
        ("email", "not-an-address", "Not an email address"),
        ("slack_webhook", "https://evil.example/services/T0001/B0002/x", "hooks.slack.com"),
        ("slack_webhook", "http://hooks.slack.com/services/T0001/B0002/x", "hooks.slack.com"),
        ("slack", "", "Say where"),
    ],
)
def test_bad_addresses_get_a_sentence_for_their_field(
    kind: str, address: str, message: str
) -> None:
    data = _form(kind, address)
    assert parse_destination(data, _settings()) is None
    assert message in data.errors["address"]


def test_editing_a_webhook_without_a_new_url_keeps_the_stored_one() -> None:
    stored = Destination(channel="slack_webhook", conversation_id="T0001/B0002", secret="x")
    parsed = parse_destination(_form("slack_webhook", ""), _settings(), editing=stored)
    assert parsed is not None
    assert (parsed.conversation_id, parsed.secret) == ("T0001/B0002", None)


def test_kinds_unknown_choices_and_no_kind_at_all_are_refused() -> None:
    none = read_destination_form({"kind": "email", "address": "a@b.io"})
    assert parse_destination(none, _settings()) is None
    assert "at least one kind" in none.errors["takes"]
    odd = read_destination_form({"kind": "email", "address": "a@b.io", "takes_alerts": "maybe"})
    assert parse_destination(odd, _settings()) is None
    assert "takes" in odd.errors
    unknown = read_destination_form({"kind": "pigeon", "address": "x", "takes_alerts": "on"})
    assert parse_destination(unknown, _settings()) is None
    assert "kind" in unknown.errors


def test_multi_workspace_slack_needs_the_workspace() -> None:
    multi = _settings(slack_client_id="123456.789012")
    data = _form("slack", "C0123ABCD")
    assert parse_destination(data, multi) is None
    assert "team ID" in data.errors["workspace"]
    fixed = parse_destination(_form("slack", "C0123ABCD", workspace="T0123ABCD"), multi)
    assert fixed is not None
    assert fixed.workspace == "T0123ABCD"


def test_policy_orders_fallbacks_by_position() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    parsed = parse_policy(
        PolicyForm("22:00", "07:00", "3", positions={str(first): "2", str(second): "1"})
    )
    assert parsed is not None
    assert (parsed.quiet_start, parsed.quiet_end, parsed.digest_threshold) == (
        time(22),
        time(7),
        3,
    )
    assert parsed.fallback_order == [second, first]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (PolicyForm("25:00", "07:00", "5"), "quiet", "times like"),
        (PolicyForm("22:00", "", "5"), "quiet", "both a start and an end"),
        (PolicyForm("08:00", "08:00", "5"), "quiet", "different times"),
        (PolicyForm("", "", "five"), "digest_threshold", "whole number"),
        (PolicyForm("", "", "-1"), "digest_threshold", "whole number"),
        (PolicyForm("", "", "5", positions={str(uuid.uuid4()): "0"}), "fallback", "1 to 99"),
    ],
)
def test_policy_errors_name_their_field(form: PolicyForm, field: str, message: str) -> None:
    assert parse_policy(form) is None
    assert message in form.errors[field]
