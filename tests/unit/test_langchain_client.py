"""The real langchain-openai clients, fed the env of a pod, call the host the engine judged."""

from __future__ import annotations

import os
from typing import Any

import pytest
from builders import APPROVED_HOST, codes, container, context, env_of, judge, pod, workload
from langchain_openai import AzureChatOpenAI, ChatOpenAI, OpenAIEmbeddings


def _process_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        # the kubelet would fill secretKeyRef values in; any stand-in key will do here
        monkeypatch.setenv(name, value if isinstance(value, str) else "key-from-secret")


def test_a_covered_pod_with_the_langchain_profile_sends_every_client_to_the_approved_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = pod(container())
    inject = {"profiles": ["LangChain"], "credentialsSecretRef": {"name": "k", "key": "k"}}
    decision = judge(p, context(workloads=[workload(inject=inject)]))
    _process_env(monkeypatch, env_of(decision, p))
    hosts = {
        "ChatOpenAI": ChatOpenAI(model="gpt-4o").root_client.base_url.host,
        "OpenAIEmbeddings": OpenAIEmbeddings().client._client.base_url.host,
        "AzureChatOpenAI": AzureChatOpenAI(azure_deployment="chat").root_client.base_url.host,
    }
    assert hosts == dict.fromkeys(hosts, APPROVED_HOST)


def test_langchain_reads_openai_api_base_before_openai_base_url_and_the_engine_judges_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "OPENAI_API_BASE": "https://llm-proxy.example.net/v1",
        "OPENAI_BASE_URL": f"https://{APPROVED_HOST}/openai/v1",
        "OPENAI_API_KEY": "k",
    }
    assert codes(judge(pod(container(env=env)))) == ["EndpointNotApproved"]
    _process_env(monkeypatch, env)
    assert ChatOpenAI(model="gpt-4o").root_client.base_url.host == "llm-proxy.example.net"
