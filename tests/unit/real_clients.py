"""Running the real clients the tests compare ModelRoute with: the LiteLLM probe (litellm_probe.py, in
a process of its own) and the Spring AI probe (tests/clients/spring-probe, built by
hack/build-spring-probe.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LITELLM_PROBE = Path(__file__).with_name("litellm_probe.py")


def litellm_calls(cases: Sequence[Mapping[str, Any]], directory: Path) -> list[dict[str, str | None]]:
    """model_name -> the host LiteLLM sends that model's request to, per case (litellm_probe.py)."""
    answer = directory / "litellm-answer.json"
    result = subprocess.run(
        [sys.executable, str(LITELLM_PROBE), str(answer)],
        input=json.dumps(list(cases)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"the LiteLLM probe failed:\n{result.stderr[-4000:]}"
    calls: list[dict[str, str | None]] = json.loads(answer.read_text())
    return calls


def spring_probe_jar() -> Path:
    """The Spring AI probe's jar, built once per content of its sources (Maven, cached)."""
    result = subprocess.run(
        ["bash", "hack/build-spring-probe.sh"], cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False
    )
    assert result.returncode == 0, f"the Spring AI probe could not be built:\n{result.stderr[-4000:]}"
    jar = Path(result.stdout.strip().splitlines()[-1])
    assert jar.is_file(), f"the build printed {jar}, which is not a file"
    return jar


def chat_base_url(jar: Path, directory: Path, env: Mapping[str, str]) -> str:
    """The base URL the Spring AI chat model calls, started in `directory` with `env` as its environment."""
    java = os.environ.get("JAVA_HOME", "")
    executable = str(Path(java, "bin", "java")) if java else "java"
    result = subprocess.run(
        [executable, "-XX:TieredStopAtLevel=1", "-jar", str(jar)],
        cwd=directory,
        env={"PATH": os.environ["PATH"], "SPRING_AI_OPENAI_API_KEY": "key-from-secret", **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"the Spring AI probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    printed: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["chatCompletionsPath"] == "/v1/chat/completions"
    return printed["chatBaseUrl"]
