"""Every pod of tests/e2e/cases/mounted-clients.yaml, judged by `modelroute check` against the policy
context of examples/0*-3*, then laid out in a directory (its ConfigMap files at their mount paths, its
env, command line and working directory: tests/unit/pod_layout.py) and run with the real client the
pod runs: LiteLLM's proxy config loader and Router, a Spring Boot + Spring AI application, python-dotenv
with openai and langchain-openai, AG2, the Codex CLI. An admitted pod, as the webhook mutates it, calls only the
approved host; a denied pod, as written, calls the host its violation names."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonpatch
import pytest
import yaml
from builders import APPROVED_HOST
from pod_layout import STAND_IN, LaidOut, lay_out
from real_clients import chat_base_url, litellm_calls, spring_probe_jar
from test_codex_cli import codex_cli, model_hosts

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "e2e" / "cases" / "mounted-clients.yaml"
POLICY_CONTEXT = sorted((ROOT / "examples").glob("[0-3]*.yaml"))
#: the variables a real deployment has some value for; where they come from does not move a request
KEYS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "SPRING_AI_OPENAI_API_KEY")

AG2_APP = """
import json
from autogen import OpenAIWrapper
from autogen.llm_config.utils import config_list_from_json

wrapper = OpenAIWrapper(config_list=config_list_from_json("OAI_CONFIG_LIST"))
print(json.dumps([str(client._oai_client.base_url) for client in wrapper._clients]))
"""


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CORPUS.read_text()) if d]


def _config_maps() -> dict[tuple[str, str], dict[str, str]]:
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["data"] for d in _documents() if d["kind"] == "ConfigMap"
    }


PODS = [d for d in _documents() if d["kind"] == "Pod"]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("modelroute")),
            "check",
            *map(str, POLICY_CONTEXT),
            str(CORPUS),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)["results"]}


def _process_env(laid: LaidOut) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(laid.root), **laid.env}
    for key in KEYS:
        env.setdefault(key, STAND_IN)
    return env


def _run(argv: list[str], laid: LaidOut, env: dict[str, str]) -> str:
    result = subprocess.run(argv, cwd=laid.cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{argv[:2]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout.strip().splitlines()[-1]


def litellm_hosts(laid: LaidOut, run: RunContext) -> set[str]:
    return run.litellm[laid.root.name]


def spring_hosts(laid: LaidOut, run: RunContext) -> set[str]:
    env = _process_env(laid)
    env.pop("PATH")
    return {urlsplit(chat_base_url(run.jar(), laid.cwd, env)).hostname or ""}


def dotenv_hosts(laid: LaidOut, run: RunContext) -> set[str]:
    (laid.cwd / "app.py").write_text(DOTENV_APP_TOLERANT)
    called = json.loads(_run([sys.executable, "app.py"], laid, _process_env(laid)))
    return {urlsplit(url).hostname or "" for url in called.values() if url}


def ag2_hosts(laid: LaidOut, run: RunContext) -> set[str]:
    (laid.cwd / "agents.py").write_text(AG2_APP)
    return {
        urlsplit(url).hostname or ""
        for url in json.loads(_run([sys.executable, "agents.py"], laid, _process_env(laid)))
    }


#: the dotenv proof's app, each client on its own: one that cannot be built (AzureChatOpenAI with no
#: endpoint, in a pod as written) calls nothing
DOTENV_APP_TOLERANT = """
from dotenv import load_dotenv

load_dotenv()  # no path: find_dotenv() looks next to this script, the working directory

import json
from langchain_openai import AzureChatOpenAI, ChatOpenAI
from openai import OpenAI


def built(make):
    try:
        return str(make())
    except Exception:
        return None


print(json.dumps({
    "openai": built(lambda: OpenAI().base_url),
    "langchain": built(lambda: ChatOpenAI(model="gpt-4o").root_client.base_url),
    "langchain-azure": built(lambda: AzureChatOpenAI(azure_deployment="chat").root_client.base_url),
}))
"""


@dataclass
class RunContext:
    litellm: dict[str, set[str]]  # pod name -> hosts, from one run of the LiteLLM probe for every pod
    jar: Callable[[], Path]  # the Spring AI probe, built when a Spring pod first needs it
    codex: Callable[[], Path]  # the Codex CLI, installed when a Codex pod first needs it


def codex_hosts(laid: LaidOut, run: RunContext) -> set[str]:
    env = {k: v for k, v in _process_env(laid).items() if k not in {"PATH", "HOME"}}
    return model_hosts(run.codex(), laid.root, env, laid.cwd)


RUNNERS: dict[str, Callable[[LaidOut, RunContext], set[str]]] = {
    "client-litellm": litellm_hosts,
    "client-spring": spring_hosts,
    "client-dotenv": dotenv_hosts,
    "client-oai-config-list": ag2_hosts,
    "client-codex": codex_hosts,
}


def _runner(name: str) -> Callable[[LaidOut, RunContext], set[str]]:
    (runner,) = [run for prefix, run in RUNNERS.items() if name.startswith(prefix)]
    return runner


def _as_run(pod: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """An admitted pod as the webhook mutates it; a denied one as written (what would run without ModelRoute)."""
    return jsonpatch.apply_patch(copy.deepcopy(pod), verdict["patch"]) if verdict["allowed"] else pod


@pytest.fixture(scope="module")
def run(verdicts: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    pods = [p for p in PODS if p["metadata"]["name"].startswith("client-litellm")]
    laid = [
        lay_out(
            _as_run(p, verdicts[p["metadata"]["name"]]),
            _config_maps(),
            tmp_path_factory.mktemp(p["metadata"]["name"], numbered=False),
        )
        for p in pods
    ]
    cases = [{"argv": one.argv, "cwd": str(one.cwd), "env": _process_env(one)} for one in laid]
    calls = litellm_calls(cases, tmp_path_factory.mktemp("litellm"))
    hosts = {one.root.name: {host for host in called.values() if host} for one, called in zip(laid, calls, strict=True)}
    return RunContext(hosts, functools.cache(spring_probe_jar), functools.cache(codex_cli))


@pytest.mark.parametrize("pod", PODS, ids=[p["metadata"]["name"] for p in PODS])
def test_the_real_client_of_each_pod_calls_what_the_verdict_says(
    pod: dict[str, Any], verdicts: dict[str, dict[str, Any]], run: RunContext, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = pod["metadata"]["name"]
    verdict = verdicts[name]
    # a LiteLLM pod was laid out and run by the fixture, in the directory named after it
    litellm = name.startswith("client-litellm")
    root = tmp_path_factory.getbasetemp() / name if litellm else tmp_path_factory.mktemp(name)
    laid = lay_out(_as_run(pod, verdict), _config_maps(), root)
    called = _runner(name)(laid, run)
    if verdict["allowed"]:
        assert called == {APPROVED_HOST}, f"admitted {name} calls {called}"
    else:
        denied_for = called - {APPROVED_HOST}
        assert denied_for, f"denied {name}, but its client calls only {called}"
        messages = " ".join(v["message"] for v in verdict["violations"])
        assert all(host in messages for host in denied_for), f"{name} calls {denied_for}; the verdict says: {messages}"


def test_the_corpus_has_admitted_and_denied_pods_of_every_client(verdicts: dict[str, dict[str, Any]]) -> None:
    for prefix in RUNNERS:
        outcomes = {
            verdicts[p["metadata"]["name"]]["allowed"] for p in PODS if p["metadata"]["name"].startswith(prefix)
        }
        assert outcomes == {True, False}, prefix
