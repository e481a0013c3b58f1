"""Run by tests/unit/test_client_files_real.py in a process of its own: the LiteLLM proxy's own config
loader (ProxyConfig.load_config: includes, os.environ/ references, litellm_settings,
environment_variables) reads each case's config file with the case's environment, then the Router it
built sends one chat completion to every model. The host each request is sent to is recorded where the
process resolves host names (nothing leaves the machine) and printed as JSON:
[{model_name: host | null}] per case, null when LiteLLM sends no request (an Azure model with no
api_base anywhere is refused before any call).

stdin: [{"config": text, "includes": {name: text}, "env": {name: value}}], or, for a container laid out
in a directory, [{"argv": the proxy's arguments, "cwd": its working directory, "env": ...}]: the file is
then the one the proxy loads at startup (CONFIG_FILE_PATH when it names a .yaml/.yml file, else the
`--config` its own command line parser reads). The JSON answer goes to the file named by the first
argument (the proxy prints to stdout as it loads).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no fetch of the price list at import

_ASKED: list[str] = []
_resolve = socket.getaddrinfo


def _recording(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host not in {"localhost", "127.0.0.1", "::1"}:
        _ASKED.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "the probe has no network")
    return _resolve(host, *args, **kwargs)


socket.getaddrinfo = _recording

import litellm  # noqa: E402
from litellm.proxy.proxy_cli import run_server  # noqa: E402
from litellm.proxy.proxy_server import ProxyConfig  # noqa: E402

_BASELINE = dict(os.environ)


def _case(case: dict[str, Any]) -> dict[str, str | None]:
    os.environ.clear()
    os.environ.update({k: v for k, v in _BASELINE.items() if "OPENAI" not in k and "AZURE" not in k})
    os.environ.update(case["env"])
    litellm.api_base = None
    if "argv" in case:
        os.chdir(case["cwd"])
        router = _load(_startup_config(case["argv"]))
    else:
        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory, "config.yaml")
            config.write_text(case["config"])
            for name, text in case.get("includes", {}).items():
                Path(directory, name).write_text(text)
            router = _load(str(config))
    called: dict[str, str | None] = {}
    for deployment in router.model_list if router is not None else []:
        name = deployment["model_name"]
        del _ASKED[:]
        with contextlib.suppress(Exception):  # every call fails: there is no network
            router.completion(model=name, messages=[{"role": "user", "content": "hi"}], num_retries=0)
        called[name] = _ASKED[0] if _ASKED else None
    return called


def _load(path: str | None) -> Any:
    if path is None:
        return None
    router, _, _ = asyncio.run(ProxyConfig().load_config(router=None, config_file_path=path))
    return router


def _startup_config(argv: list[str]) -> str | None:
    """proxy_server's startup: CONFIG_FILE_PATH when it is a YAML file (and then nothing else), else
    the worker config's `config`, which is the `--config` option of proxy_cli's command."""
    env_config = os.environ.get("CONFIG_FILE_PATH")
    if env_config is not None:
        return env_config if ProxyConfig().is_yaml(config_file_path=env_config) else None
    args = argv[1:] if argv and Path(argv[0]).name == "litellm" else argv
    context = run_server.make_context("litellm", list(args), resilient_parsing=True)
    config: str | None = context.params.get("config")
    return config


def main() -> None:
    cases = json.load(sys.stdin)
    Path(sys.argv[1]).write_text(json.dumps([_case(case) for case in cases]))


if __name__ == "__main__":
    main()
