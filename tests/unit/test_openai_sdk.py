"""The real `openai` SDK, fed the env of a mutated pod, targets the approved host."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from builders import APPROVED_HOST, container, context, endpoint, env_of, judge, pod, workload


def _sdk_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        # the kubelet would fill secretKeyRef values in; any stand-in key will do here
        monkeypatch.setenv(name, value if isinstance(value, str) else "key-from-secret")


@pytest.fixture
def covered_pod_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process env set to what a covered pod (key from a Secret) receives from the engine."""
    p = pod(container())
    ctx = context(workloads=[workload(inject={"credentialsSecretRef": {"name": "k", "key": "k"}})])
    _sdk_env(monkeypatch, env_of(judge(p, ctx), p))


@pytest.mark.usefixtures("covered_pod_env")
def test_openai_client_targets_the_approved_host() -> None:
    client = openai.OpenAI()
    assert client.base_url.host == APPROVED_HOST
    assert str(client.base_url).rstrip("/").endswith("/openai/v1")


@pytest.mark.usefixtures("covered_pod_env")
def test_azure_openai_client_targets_the_approved_host() -> None:
    client = openai.AzureOpenAI()
    assert client.base_url.host == APPROVED_HOST
    assert str(client.base_url).rstrip("/").endswith("/openai")
    assert client._api_version == "2024-10-21"


def test_a_rewritten_pod_sends_the_openai_client_to_the_approved_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from builders import policy

    p = pod(container(env={"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "x"}))
    decision = judge(p, context(policies=[policy(rewrite=True)]))
    _sdk_env(monkeypatch, env_of(decision, p))
    assert openai.OpenAI().base_url.host == APPROVED_HOST


@pytest.mark.parametrize(
    "env",
    [
        {"OPENAI_API_KEY": "x"},
        {"OPENAI_API_KEY": "x", "OPENAI_API_TYPE": "azure"},
        {"OPENAI_API_KEY": "x", "OPENAI_API_BASE": "https://contoso-eastus.openai.azure.com/openai/v1"},
    ],
)
def test_where_the_sdk_goes_by_default_the_engine_refuses(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    _sdk_env(monkeypatch, env)
    assert openai.OpenAI().base_url.host == "api.openai.com"
    decision = judge(pod(container(env=env), app="unmanaged"))
    assert "DefaultOpenAIEndpoint" in [v.code for v in decision.violations]


def test_a_covered_pod_with_only_a_key_is_sent_to_the_approved_host(monkeypatch: pytest.MonkeyPatch) -> None:
    p = pod(container(env={"OPENAI_API_KEY": "x"}))
    decision = judge(p)
    assert decision.allowed
    _sdk_env(monkeypatch, env_of(decision, p))
    assert openai.OpenAI().base_url.host == APPROVED_HOST


def test_an_openai_type_endpoint_sends_the_sdk_to_that_openai_host(monkeypatch: pytest.MonkeyPatch) -> None:
    p = pod(container())
    ctx = context(
        endpoints=[endpoint(url="https://eu.api.openai.com", type="OpenAI")], workloads=[workload(channel="OpenAI")]
    )
    _sdk_env(monkeypatch, {**env_of(judge(p, ctx), p), "OPENAI_API_KEY": "x"})
    assert str(openai.OpenAI().base_url) == "https://eu.api.openai.com/v1/"
