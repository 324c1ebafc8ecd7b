"""deploy/signal-cli.compose.yml: the API in json-rpc mode, its data on a volume, no open port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from channels.signal_messenger.receiver import receive_url

FRAGMENT = Path(__file__).resolve().parents[3] / "deploy" / "signal-cli.compose.yml"


def service() -> dict[str, Any]:
    compose = yaml.safe_load(FRAGMENT.read_text())
    return dict(compose["services"]["signal-cli"])


def test_the_api_runs_in_json_rpc_mode_from_a_pinned_image() -> None:
    api = service()
    # Only the json-rpc modes serve /v1/receive/{number} as a websocket.
    assert api["environment"]["MODE"] == "json-rpc"
    image, _, tag = api["image"].partition(":")
    assert image == "bbernhard/signal-cli-rest-api"
    assert tag
    assert tag != "latest"
    assert api["restart"] == "unless-stopped"


def test_its_data_lives_on_a_named_volume() -> None:
    compose = yaml.safe_load(FRAGMENT.read_text())
    [mount] = service()["volumes"]
    volume, _, target = mount.partition(":")
    assert target == "/home/.local/share/signal-cli"  # the image's SIGNAL_CLI_CONFIG_DIR
    assert volume in compose["volumes"]


def test_it_publishes_no_port_beyond_the_internal_network() -> None:
    api = service()
    assert "ports" not in api  # the API has no authentication of its own
    assert "network_mode" not in api
    assert api["expose"] == ["8080"]
    assert str(api["environment"]["PORT"]) == "8080"


def test_the_documented_url_is_what_the_receiver_connects_to() -> None:
    text = FRAGMENT.read_text()
    assert "ADPILOT_SIGNAL_API_URL=http://signal-cli:8080" in text
    url = receive_url("http://signal-cli:8080", "+4915112345678")
    assert url == "ws://signal-cli:8080/v1/receive/%2B4915112345678"
