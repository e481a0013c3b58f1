"""The real Node clients (openai, @ai-sdk/openai, @ai-sdk/azure), fed the env of a pod, call the host
the engine judged: the approved one for a covered pod, the one it refused otherwise, including URL
forms only a WHATWG parser reads as a URL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from builders import APPROVED_HOST, codes, container, context, env_of, judge, pod, policy, workload

#: Installed once per machine with npm; the versions docs/clients.md's client table was checked against.
PACKAGES = ("openai@4.104.0", "@ai-sdk/openai@2.0.131", "@ai-sdk/azure@2.0.138")
CLIENTS_DIR = Path(os.environ.get("MODELROUTE_NODE_CLIENTS", Path.home() / ".cache/modelroute/node-clients"))
PROBE = Path(__file__).with_name("node_client_probe.js")
ALL_CLIENTS = ("openai", "azure-openai", "ai-sdk-openai", "ai-sdk-azure")


@pytest.fixture(scope="module")
def node_modules() -> Path:
    modules = CLIENTS_DIR / "node_modules"
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node, "node is needed to run the Node clients"
    assert npm, "npm is needed to install the Node clients"
    if not all((modules / p.rsplit("@", 1)[0]).is_dir() for p in PACKAGES):
        CLIENTS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
            cwd=CLIENTS_DIR,
            check=True,
            timeout=600,
        )
    return modules


def called_hosts(modules: Path, env: dict[str, Any], clients: tuple[str, ...] = ALL_CLIENTS) -> dict[str, str]:
    """client -> the host it sends its first request to, with `env` as its whole environment."""
    # the kubelet fills secretKeyRef values in; any stand-in key will do here
    process_env = {k: v if isinstance(v, str) else "key-from-secret" for k, v in env.items()}
    process_env |= {"PATH": os.environ["PATH"], "NODE_PATH": str(modules)}
    result = subprocess.run(
        ["node", str(PROBE), *clients], env=process_env, capture_output=True, text=True, timeout=60, check=True
    )
    urls: dict[str, str] = json.loads(result.stdout)
    return {name: url if url.startswith("error") else (urlsplit(url).hostname or "") for name, url in urls.items()}


def test_a_covered_pod_sends_every_node_client_to_the_approved_host(node_modules: Path) -> None:
    p = pod(container())
    inject = {"profiles": ["OpenAI", "AzureOpenAI", "VercelAI"], "credentialsSecretRef": {"name": "k", "key": "k"}}
    decision = judge(p, context(workloads=[workload(inject=inject)]))
    assert decision.allowed
    assert called_hosts(node_modules, env_of(decision, p)) == dict.fromkeys(ALL_CLIENTS, APPROVED_HOST)


def test_a_rewritten_resource_name_sends_the_ai_sdk_azure_provider_to_the_approved_host(node_modules: Path) -> None:
    p = pod(container(env={"AZURE_RESOURCE_NAME": "someone-else", "AZURE_API_KEY": "k"}))
    ctx = context(workloads=[workload(inject={"profiles": ["VercelAI"]})], policies=[policy(rewrite=True)])
    decision = judge(p, ctx)
    assert decision.allowed
    assert called_hosts(node_modules, env_of(decision, p), ("ai-sdk-azure",)) == {"ai-sdk-azure": APPROVED_HOST}


def test_a_resource_name_the_engine_refuses_is_the_host_the_provider_calls(node_modules: Path) -> None:
    env = {"AZURE_RESOURCE_NAME": "someone-else", "AZURE_API_KEY": "k"}
    decision = judge(pod(container(env=env)))
    assert codes(decision) == ["EndpointNotApproved"]
    assert "someone-else.openai.azure.com" in decision.violations[0].message
    assert called_hosts(node_modules, env, ("ai-sdk-azure",)) == {"ai-sdk-azure": "someone-else.openai.azure.com"}


@pytest.mark.parametrize(
    "base_url",
    [
        "https:api.openai.com/v1",  # no slashes after the scheme
        "https:\\\\api.openai.com\\v1",  # backslashes
        "https://api.open\tai.com/v1",  # a tab inside the host
        "https://\uff41\uff50\uff49.openai.com/v1",  # full-width letters
    ],
)
def test_url_forms_only_whatwg_reads_as_openai_are_refused_and_node_does_call_openai(
    node_modules: Path, base_url: str
) -> None:
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "k"}
    assert not judge(pod(container(env=env))).allowed
    assert called_hosts(node_modules, env, ("openai", "ai-sdk-openai")) == {
        "openai": "api.openai.com",
        "ai-sdk-openai": "api.openai.com",
    }


def test_node_azure_openai_prefers_openai_base_url_to_its_endpoint_and_both_are_judged(node_modules: Path) -> None:
    env = {
        "OPENAI_BASE_URL": "https://llm-proxy.example.net/v1",
        "AZURE_OPENAI_ENDPOINT": f"https://{APPROVED_HOST}",
        "AZURE_OPENAI_API_KEY": "k",
        "OPENAI_API_VERSION": "2024-10-21",
    }
    assert codes(judge(pod(container(env=env)))) == ["EndpointNotApproved"]
    assert called_hosts(node_modules, env, ("azure-openai",)) == {"azure-openai": "llm-proxy.example.net"}
