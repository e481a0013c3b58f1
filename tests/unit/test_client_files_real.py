"""The client file readers agree with the real clients from PyPI: for every config of a table, the
host each reader's destination resolves to (after the client's fallback and default rules, with the
environment the container has) is the host the real client calls.

- LiteLLM: the proxy's own config loader and Router (tests/unit/litellm_probe.py, in a process of
  its own), and the `litellm` proxy server itself started with `--config` or CONFIG_FILE_PATH;
- AG2: config_list_from_json + OpenAIWrapper, the OAI_CONFIG_LIST as a file, as JSON in the
  variable and as a path in the variable;
- python-dotenv + openai + langchain-openai: a `.env` in the working directory, loaded by
  `load_dotenv()` from a script there, with the process environment set first.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
import yaml
from builders import APPROVED_HOST
from real_clients import litellm_calls

from modelroute.engine import hosts
from modelroute.engine.clientfiles import (
    litellm_config_paths,
    litellm_destinations,
    litellm_includes,
    oai_config_list_destinations,
    resolve,
)

APPROVED = f"https://{APPROVED_HOST}/openai/v1"
APPROVED_AZURE = f"https://{APPROVED_HOST}"
OTHER_AZURE = "https://fabrikam.openai.azure.com"
FOUNDRY = "https://contoso.services.ai.azure.com/models"
OPENAI = "https://api.openai.com/v1"
GATEWAY = "https://llm-gateway.example.net/v1"


def host_of(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def is_openai_route(host: str | None) -> bool:
    return host is not None and hosts.classify_host(host).family is not hosts.HostFamily.OTHER


# --- LiteLLM ------------------------------------------------------------------------------------------


def models(*entries: tuple[str, str]) -> str:
    out = "model_list:\n"
    for name, params in entries:
        out += f"  - model_name: {name}\n    litellm_params:\n      api_key: k\n      api_version: '2024-10-21'\n"
        out += "".join(f"      {line}\n" for line in params.strip().splitlines())
    return out


@dataclass(frozen=True)
class LiteLLMCase:
    name: str
    config: str
    env: Mapping[str, str]
    includes: Mapping[str, str] = field(default_factory=dict)


INJECTED = {"OPENAI_BASE_URL": APPROVED, "AZURE_API_BASE": APPROVED_AZURE}

LITELLM_CASES = (
    LiteLLMCase(
        "a per-model api_base wins over the injected OPENAI_BASE_URL",
        models(("direct", f"model: openai/gpt-4o\napi_base: {OPENAI}"), ("injected", "model: openai/gpt-4o-mini")),
        INJECTED,
    ),
    LiteLLMCase(
        "without api_base: OPENAI_BASE_URL, then OPENAI_API_BASE, then api.openai.com",
        models(("a", "model: openai/gpt-4o"), ("bare", "model: gpt-4o"), ("instruct", "model: gpt-3.5-turbo-instruct")),
        {"OPENAI_API_BASE": GATEWAY},
    ),
    LiteLLMCase(
        "OPENAI_BASE_URL is read before OPENAI_API_BASE",
        models(("a", "model: openai/gpt-4o")),
        {"OPENAI_BASE_URL": APPROVED, "OPENAI_API_BASE": GATEWAY},
    ),
    LiteLLMCase(
        "no variable at all: the OpenAI default",
        models(("a", "model: openai/gpt-4o"), ("t", "model: text-completion-openai/gpt-3.5-turbo-instruct")),
        {},
    ),
    LiteLLMCase(
        "os.environ/ names the variable; unset, the provider's fallbacks follow",
        models(
            ("named", "model: openai/gpt-4o\napi_base: os.environ/CORP_BASE"),
            ("unset", "model: openai/gpt-4o\napi_base: os.environ/NOT_SET"),
            ("azure-named", "model: azure/chat\napi_base: os.environ/CORP_AZURE"),
        ),
        {"CORP_BASE": GATEWAY, "CORP_AZURE": OTHER_AZURE, **INJECTED},
    ),
    LiteLLMCase(
        "Azure: api_base, else AZURE_API_BASE, else no call; Azure AI: AZURE_AI_API_BASE",
        models(
            ("own", f"model: azure/chat\napi_base: {OTHER_AZURE}"),
            ("env", "model: azure/chat"),
            ("foundry", "model: azure_ai/mistral-large"),
        ),
        {"AZURE_API_BASE": APPROVED_AZURE, "AZURE_AI_API_BASE": FOUNDRY},
    ),
    LiteLLMCase(
        "Azure with no base anywhere is refused before any call",
        models(("nowhere", "model: azure/chat")),
        {"OPENAI_BASE_URL": APPROVED},
    ),
    LiteLLMCase(
        "base_url wins over api_base",
        models(("both", f"model: openai/gpt-4o\nbase_url: {OPENAI}\napi_base: {GATEWAY}")),
        INJECTED,
    ),
    LiteLLMCase(
        "litellm_settings.api_base comes after the model's own and before the environment",
        models(("own", f"model: openai/gpt-4o\napi_base: {GATEWAY}"), ("shared", "model: openai/gpt-4o-mini"))
        + f"litellm_settings:\n  api_base: {OPENAI}\n",
        INJECTED,
    ),
    LiteLLMCase(
        "environment_variables replace the container's values",
        models(("a", "model: openai/gpt-4o"), ("az", "model: azure/chat"))
        + f"environment_variables:\n  OPENAI_BASE_URL: {OPENAI}\n  AZURE_API_BASE: {OTHER_AZURE}\n",
        INJECTED,
    ),
    LiteLLMCase(
        "an environment variable the config writes for the second fallback does not beat the first",
        models(("a", "model: openai/gpt-4o")) + f"environment_variables:\n  OPENAI_API_BASE: {OPENAI}\n",
        INJECTED,
    ),
    LiteLLMCase(
        "custom_llm_provider picks the provider of a model name LiteLLM does not know",
        models(("custom", "model: my-finetune\ncustom_llm_provider: openai")),
        {"OPENAI_API_BASE": GATEWAY},
    ),
    LiteLLMCase(
        "YAML anchors and merge keys",
        "defaults: &defaults\n  api_key: k\n  api_base: https://api.openai.com/v1\n"
        "model_list:\n  - model_name: merged\n    litellm_params:\n      <<: *defaults\n      model: openai/gpt-4o\n",
        INJECTED,
    ),
    LiteLLMCase(
        "included files add their models",
        "include:\n  - more-models.yaml\n" + models(("main", "model: openai/gpt-4o")),
        INJECTED,
        {"more-models.yaml": models(("included", f"model: openai/gpt-4o\napi_base: {OPENAI}"))},
    ),
    LiteLLMCase(
        "another provider is not an OpenAI route",
        models(("claude", "model: anthropic/claude-3-5-sonnet-20240620"), ("gpt", "model: openai/gpt-4o")),
        INJECTED,
    ),
)


def reader_hosts(case: LiteLLMCase) -> dict[str, str | None]:
    """model_name -> the host the reader says the model calls; absent when it is no OpenAI route."""
    # a model's key indexes the model_list of the file it is written in (0: the main file, n: the n-th include)
    names = [[entry["model_name"] for entry in yaml.safe_load(case.config)["model_list"]]]
    for text in case.includes.values():
        names.append([entry["model_name"] for entry in yaml.safe_load(text)["model_list"]])
    assert litellm_includes(case.config) == tuple(case.includes)
    found: dict[str, str | None] = {}
    for destination in litellm_destinations(case.config, list(case.includes.values())):
        if destination.key.startswith("model_list["):
            index = int(destination.key.removeprefix("model_list[").partition("]")[0])
            found[names[destination.included][index]] = host_of(resolve(destination, case.env))
        elif destination.key == "litellm_settings.api_base":
            found[destination.note.split()[2]] = host_of(resolve(destination, case.env))
    return found


@pytest.fixture(scope="module")
def litellm_table_calls(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str | None]]:
    """What the real LiteLLM calls for every case, from one run of the probe."""
    cases = [{"config": c.config, "env": dict(c.env), "includes": dict(c.includes)} for c in LITELLM_CASES]
    return litellm_calls(cases, tmp_path_factory.mktemp("litellm"))


@pytest.mark.parametrize("case", LITELLM_CASES, ids=[c.name for c in LITELLM_CASES])
def test_the_litellm_reader_resolves_every_model_to_the_host_litellm_calls(
    case: LiteLLMCase, litellm_table_calls: list[dict[str, str | None]]
) -> None:
    called = litellm_table_calls[LITELLM_CASES.index(case)]
    predicted = reader_hosts(case)
    for name, host in called.items():
        if name in predicted:
            assert predicted[name] == host, f"model {name}: the reader says {predicted[name]}, LiteLLM calls {host}"
        else:
            assert not is_openai_route(host), f"model {name} calls {host}, which the reader does not report"
    assert set(predicted) <= set(called)


def test_the_table_covers_each_outcome(litellm_table_calls: list[dict[str, str | None]]) -> None:
    """The cases are worth comparing: the file's own URL, the injected one, a variable's, the
    default, and no call at all all occur."""
    seen = {host for calls in litellm_table_calls for host in calls.values()}
    assert {"api.openai.com", APPROVED_HOST, "llm-gateway.example.net", "fabrikam.openai.azure.com", None} <= seen


# --- the LiteLLM proxy server itself ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def proxy_dir(tmp_path: Path) -> Path:
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK_SOURCE)
    return tmp_path


HOOK_SOURCE = """
import os, socket
_log, _real = os.environ["PROBE_HOSTS_LOG"], socket.getaddrinfo
def _recording(host, *args, **kwargs):
    if isinstance(host, str) and host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
        with open(_log, "a") as f:
            f.write(host + "\\n")
        raise socket.gaierror(socket.EAI_NONAME, "no network")
    return _real(host, *args, **kwargs)
socket.getaddrinfo = _recording
"""


MASTER_KEY = "sk-probe-" + os.urandom(16).hex()


@contextmanager
def running_proxy(directory: Path, args: list[str], env: Mapping[str, str]) -> Iterator[int]:
    """The `litellm` proxy server, started in `directory` as a container would start it."""
    executable = Path(sys.executable).with_name("litellm")
    assert executable.is_file(), f"the litellm command is not installed next to {sys.executable}"
    port = _free_port()
    process_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(directory),
        "PYTHONPATH": str(directory / "hook"),
        "PROBE_HOSTS_LOG": str(directory / "hosts.log"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # the asyncio loop, whose name lookups go through socket.getaddrinfo (uvloop's do not): the
        # loop does not change which URL a model is sent to
        "LITELLM_EVENT_LOOP": "asyncio",
        "LITELLM_MASTER_KEY": MASTER_KEY,
        **env,
    }
    log = (directory / "proxy.log").open("w")
    process = subprocess.Popen(
        [str(executable), *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=directory,
        env=process_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"the proxy exited:\n{(directory / 'proxy.log').read_text()[-3000:]}"
            try:
                with urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                f"the proxy did not start:\n{(directory / 'proxy.log').read_text()[-3000:]}"
            )
            time.sleep(0.5)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def called_through_proxy(directory: Path, port: int, model_name: str) -> set[str]:
    """The hosts the proxy looks up to serve one chat completion for `model_name`."""
    hosts_log = directory / "hosts.log"
    hosts_log.write_text("")
    body = json.dumps({"model": model_name, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = Request(
        f"http://127.0.0.1:{port}/chat/completions",
        data=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {MASTER_KEY}"},
    )
    try:
        urlopen(request, timeout=60).close()
    except HTTPError as error:
        error.close()  # every upstream call fails: there is no network
    return set(hosts_log.read_text().split())


def reader_hosts_for(directory: Path, argv: list[str], env: Mapping[str, str]) -> dict[str, str | None]:
    (path,) = litellm_config_paths(argv, env)
    text = (directory / path).read_text()
    names = [entry["model_name"] for entry in yaml.safe_load(text)["model_list"]]
    return {names[i]: host_of(resolve(d, env)) for i, d in enumerate(litellm_destinations(text))}


def test_the_proxy_started_with_config_calls_what_the_reader_says(proxy_dir: Path) -> None:
    (proxy_dir / "config.yaml").write_text(
        models(("direct", f"model: openai/gpt-4o\napi_base: {OPENAI}"), ("injected", "model: openai/gpt-4o-mini"))
    )
    args, env = ["--config", "config.yaml"], dict(INJECTED)
    predicted = reader_hosts_for(proxy_dir, args, env)
    assert predicted == {"direct": "api.openai.com", "injected": APPROVED_HOST}
    with running_proxy(proxy_dir, args, env) as port:
        assert {name: called_through_proxy(proxy_dir, port, name) for name in predicted} == {
            name: {host} for name, host in predicted.items()
        }


def test_the_proxy_reads_config_file_path_ahead_of_the_config_argument(proxy_dir: Path) -> None:
    (proxy_dir / "config.yaml").write_text(models(("from-argument", f"model: openai/gpt-4o\napi_base: {GATEWAY}")))
    (proxy_dir / "proxy.yaml").write_text(models(("from-variable", f"model: openai/gpt-4o\napi_base: {OPENAI}")))
    args, env = ["--config", "config.yaml"], {**INJECTED, "CONFIG_FILE_PATH": str(proxy_dir / "proxy.yaml")}
    predicted = reader_hosts_for(proxy_dir, args, env)
    assert predicted == {"from-variable": "api.openai.com"}
    with running_proxy(proxy_dir, args, env) as port:
        assert called_through_proxy(proxy_dir, port, "from-variable") == {"api.openai.com"}
        assert called_through_proxy(proxy_dir, port, "from-argument") == set()  # not a model it has


# --- AG2 / AutoGen ---------------------------------------------------------------------------------------

AG2_ENTRIES: list[dict[str, Any]] = [
    {"model": "gpt-4o", "api_key": "k", "base_url": OPENAI},
    {"model": "gpt-4o-mini", "api_key": "k"},
    {"model": "gpt-4.1", "api_key": "k", "api_type": "openai", "base_url": GATEWAY},
    {"model": "chat", "api_key": "k", "api_type": "azure", "api_version": "2024-10-21", "base_url": OTHER_AZURE},
    {"model": "chat", "api_key": "k", "api_type": "azure", "api_version": "2024-10-21"},
    {
        "model": "chat",
        "api_key": "k",
        "api_type": "azure",
        "api_version": "2024-10-21",
        "azure_endpoint": APPROVED_AZURE,
        "base_url": OPENAI,
    },
    {"model": "gpt-4o", "api_key": "k", "api_type": "responses"},
]


def ag2_hosts(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], location: str) -> list[str]:
    """The host of every client AG2 builds from the OAI_CONFIG_LIST found with `env`."""
    from autogen import OpenAIWrapper
    from autogen.llm_config.utils import config_list_from_json

    for name in list(os.environ):
        if "OPENAI" in name or "AZURE" in name or name == "OAI_CONFIG_LIST":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wrapper = OpenAIWrapper(config_list=config_list_from_json("OAI_CONFIG_LIST", file_location=location))
    return [client._oai_client.base_url.host for client in wrapper._clients]


@pytest.mark.parametrize("form", ["file", "variable holding the JSON", "variable naming a file"])
def test_the_oai_config_list_reader_resolves_every_entry_to_the_host_ag2_calls(
    form: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = json.dumps(AG2_ENTRIES)
    env = {"OPENAI_BASE_URL": APPROVED, "AZURE_OPENAI_ENDPOINT": APPROVED_AZURE}
    if form == "file":
        (tmp_path / "OAI_CONFIG_LIST").write_text(text)
    elif form == "variable holding the JSON":
        env["OAI_CONFIG_LIST"] = text
    else:
        (tmp_path / "models.json").write_text(text)
        env["OAI_CONFIG_LIST"] = str(tmp_path / "models.json")
    predicted = [host_of(resolve(d, env)) for d in oai_config_list_destinations(text)]
    assert predicted == [
        "api.openai.com",
        APPROVED_HOST,
        "llm-gateway.example.net",
        "fabrikam.openai.azure.com",
        APPROVED_HOST,
        APPROVED_HOST,
        APPROVED_HOST,
    ]
    assert ag2_hosts(monkeypatch, env, str(tmp_path)) == predicted


def test_an_azure_entry_with_no_endpoint_anywhere_is_no_call_for_the_reader_and_an_error_for_ag2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = json.dumps([{"model": "chat", "api_key": "k", "api_type": "azure", "api_version": "2024-10-21"}])
    (tmp_path / "OAI_CONFIG_LIST").write_text(text)
    env = {"OPENAI_BASE_URL": APPROVED}
    assert [resolve(d, env) for d in oai_config_list_destinations(text)] == [None]
    with pytest.raises(ValueError, match="azure_endpoint"):
        ag2_hosts(monkeypatch, env, str(tmp_path))


def test_without_a_base_anywhere_an_openai_entry_calls_openai(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = json.dumps([{"model": "gpt-4o", "api_key": "k"}])
    (tmp_path / "OAI_CONFIG_LIST").write_text(text)
    assert [host_of(resolve(d, {})) for d in oai_config_list_destinations(text)] == ["api.openai.com"]
    assert ag2_hosts(monkeypatch, {}, str(tmp_path)) == ["api.openai.com"]


# --- python-dotenv + openai + langchain-openai -------------------------------------------------------------

DOTENV_APP = """
from dotenv import load_dotenv

load_dotenv()  # no path: find_dotenv() looks next to this script, the working directory

import json
from langchain_openai import AzureChatOpenAI, ChatOpenAI
from openai import OpenAI

print(json.dumps({
    "openai": str(OpenAI().base_url),
    "langchain": str(ChatOpenAI(model="gpt-4o").root_client.base_url),
    "langchain-azure": str(AzureChatOpenAI(azure_deployment="chat").root_client.base_url),
}))
"""


def dotenv_rule(process_env: Mapping[str, str], dotenv_file: Path) -> dict[str, str]:
    """The environment the app ends with, by the rule the engine applies: the file's values for the
    variables the container does not set, `${VAR}` read from the container's environment first and
    then from the lines above (python-dotenv's parser reads the file)."""
    from dotenv import dotenv_values

    with mock.patch.dict(os.environ, process_env, clear=True):
        values = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
    return {**values, **process_env}


def sdk_hosts(env: Mapping[str, str]) -> dict[str, str | None]:
    """The hosts the clients' documented variables give (the client table in docs/clients.md)."""
    return {
        "openai": host_of(env.get("OPENAI_BASE_URL") or OPENAI),
        "langchain": host_of(env.get("OPENAI_API_BASE") or env.get("OPENAI_BASE_URL") or OPENAI),
        "langchain-azure": host_of(env.get("AZURE_OPENAI_ENDPOINT")),
    }


DOTENV_CASES = {
    "the container's variables win over the file's": (
        {"OPENAI_BASE_URL": APPROVED, "AZURE_OPENAI_ENDPOINT": APPROVED_AZURE},
        f"OPENAI_BASE_URL={OPENAI}\nAZURE_OPENAI_ENDPOINT={OTHER_AZURE}\n",
    ),
    "a variable the container does not set comes from the file (LangChain reads OPENAI_API_BASE first)": (
        {"OPENAI_BASE_URL": APPROVED, "AZURE_OPENAI_ENDPOINT": APPROVED_AZURE},
        f"OPENAI_API_BASE={OPENAI}\n",
    ),
    "export, quotes, comments and ${VAR} expansion as python-dotenv reads them": (
        {"AZURE_OPENAI_ENDPOINT": APPROVED_AZURE, "CORP": "llm-gateway.example.net"},
        f"# the gateway\nexport OPENAI_BASE_URL='https://${{CORP}}/v1'  # quoted\nOPENAI_API_BASE=\"{OPENAI}\"\n",
    ),
}


@pytest.mark.parametrize("case", list(DOTENV_CASES), ids=list(DOTENV_CASES))
def test_a_dotenv_file_in_the_working_directory_moves_the_sdks_as_the_rule_says(case: str, tmp_path: Path) -> None:
    process_env, dotenv_text = DOTENV_CASES[case]
    (tmp_path / ".env").write_text(dotenv_text)
    (tmp_path / "app.py").write_text(DOTENV_APP)
    env = {
        "PATH": os.environ["PATH"],
        "OPENAI_API_KEY": "k",
        "AZURE_OPENAI_API_KEY": "k",
        "OPENAI_API_VERSION": "2024-10-21",
        **process_env,
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    called = {name: host_of(url) for name, url in json.loads(result.stdout.splitlines()[-1]).items()}
    assert called == sdk_hosts(dotenv_rule(env, tmp_path / ".env"))
