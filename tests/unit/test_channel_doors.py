"""Channels are a door, not a hint: an endpoint only one procurement channel may use serves only the
workloads that declare that channel; a pod no ModelWorkload covers declares none."""

from __future__ import annotations

import pytest
from builders import APPROVED_URL, codes, container, context, endpoint, judge, pod, policy, workload

from modelroute.engine.verdict import Outcome

OPENAI_ENDPOINT = endpoint("openai-direct", url="https://api.openai.com", type="OpenAI")
UNMANAGED_ALLOWED = [policy(unmanaged="Allow")]


def unmanaged_pod(env: dict[str, str]) -> dict[str, object]:
    return pod(container(env=env), app="nobody-declared-me")


def test_an_unmanaged_pod_may_not_call_an_endpoint_of_type_openai() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], policies=UNMANAGED_ALLOWED)
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": "https://api.openai.com/v1"}), ctx)
    assert not decision.allowed
    assert codes(decision) == ["ChannelNotDeclared"]
    message = decision.violations[0].message
    assert "openai-direct" in message
    assert "OpenAI" in message
    assert "procurement.channel" in message


def test_an_unmanaged_pod_whose_key_defaults_to_an_openai_type_endpoint_has_not_declared_its_channel() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], policies=UNMANAGED_ALLOWED)
    decision = judge(unmanaged_pod({"OPENAI_API_KEY": "k"}), ctx)
    assert codes(decision) == ["ChannelNotDeclared"]
    assert "OPENAI_API_KEY" in decision.violations[0].message


def test_an_unmanaged_pod_may_not_call_an_endpoint_whose_channels_admit_one_door() -> None:
    ctx = context(endpoints=[endpoint(channels=["Microsoft"])], policies=UNMANAGED_ALLOWED)
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}), ctx)
    assert codes(decision) == ["ChannelNotDeclared"]
    assert "Microsoft" in decision.violations[0].message


@pytest.mark.parametrize("channels", [None, ["Microsoft", "OpenAI"]])
def test_an_unmanaged_pod_may_call_an_endpoint_open_to_every_channel(channels: list[str] | None) -> None:
    spec = {} if channels is None else {"channels": channels}
    ctx = context(endpoints=[endpoint(**spec)], policies=UNMANAGED_ALLOWED)
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}), ctx)
    assert decision.allowed
    assert decision.outcome is Outcome.UNMANAGED
    assert codes(decision) == []


def test_an_endpoint_open_to_every_channel_wins_over_a_one_door_endpoint_on_the_same_host() -> None:
    ctx = context(
        endpoints=[endpoint("microsoft-only", channels=["Microsoft"]), endpoint("open")], policies=UNMANAGED_ALLOWED
    )
    assert judge(unmanaged_pod({"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}), ctx).allowed


def test_a_one_door_endpoint_that_does_not_admit_the_namespace_is_simply_not_approved() -> None:
    ctx = context(
        endpoints=[endpoint(channels=["Microsoft"], namespaceSelector={"matchLabels": {"team": "other"}})],
        policies=UNMANAGED_ALLOWED,
    )
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}), ctx)
    assert codes(decision) == ["EndpointNotApproved"]


def test_a_host_no_endpoint_has_is_still_not_approved() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], policies=UNMANAGED_ALLOWED)
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": "https://elsewhere.openai.azure.com"}), ctx)
    assert codes(decision) == ["EndpointNotApproved"]


def test_a_workload_that_declares_the_openai_channel_uses_the_openai_endpoint() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], workloads=[workload(endpoint_name="openai-direct", channel="OpenAI")])
    decision = judge(pod(container(env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})), ctx)
    assert decision.allowed
    assert decision.outcome is Outcome.COMPLIANT
    assert decision.annotations["modelroute.io/procurement-channel"] == "OpenAI"


def test_a_workload_of_the_other_channel_may_not_use_a_one_door_endpoint() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], workloads=[workload(endpoint_name="openai-direct", channel="Microsoft")])
    assert codes(judge(pod(container()), ctx)) == ["ChannelNotAllowed"]


def test_under_warn_an_unmanaged_pod_on_a_one_door_endpoint_is_warned_with_the_code() -> None:
    ctx = context(endpoints=[OPENAI_ENDPOINT], policies=[policy(enforcement="Warn", unmanaged="Allow")])
    decision = judge(unmanaged_pod({"OPENAI_BASE_URL": "https://api.openai.com/v1"}), ctx)
    assert decision.allowed
    assert any(w.startswith("[ChannelNotDeclared]") for w in decision.warnings)
