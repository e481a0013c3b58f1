"""Mounted configuration a client reads that is easy to miss: a ConfigMap's binaryData keys, a dotenv
file a shell sources over the environment, and the Codex CLI's built-in default endpoint."""

from __future__ import annotations

import base64
from typing import Any

from builders import APPROVED_URL, codes, container, context, judge, pod, workload

from modelroute.engine.context import config_map_data
from modelroute.engine.detection import inspect_pod_spec

OPENAI = "https://api.openai.com/v1"
APPROVED_V1 = APPROVED_URL + "/openai/v1"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def binary_pod(
    binary: dict[str, str], *, data: dict[str, str] | None = None, **fields: Any
) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    app = container(volumeMounts=[{"name": "conf", "mountPath": "/srv"}], **fields)
    obj = pod(app, volumes=[{"name": "conf", "configMap": {"name": "app-config"}}])
    body = {"data": data or {}, "binaryData": binary}
    return obj, {("apps", "app-config"): config_map_data(body)}


def targets_of(obj: dict[str, Any], config_maps: Any) -> list[Any]:
    return [t for f in inspect_pod_spec(obj["spec"], "spec", "apps", config_maps) for t in f.targets]


# -- binaryData ---------------------------------------------------------------------------------


def test_a_binary_data_dotenv_and_properties_file_are_judged_like_data_files() -> None:
    obj, cms = binary_pod(
        {".env": b64(f"OPENAI_API_BASE={OPENAI}\n"),
         "application.properties": b64("spring.ai.openai.chat.base-url=https://api.openai.com\n")},
        workingDir="/srv",
    )  # fmt: skip
    decision = judge(obj, context(config_maps=cms, workloads=[workload(inject={"profiles": ["OpenAI"]})]))
    assert not decision.allowed
    messages = " ".join(v.message for v in decision.violations)
    assert "OPENAI_API_BASE in /srv/.env" in messages
    assert "spring.ai.openai.chat.base-url" in messages
    assert "binaryData key '.env'" in messages


def test_a_binary_data_file_a_variable_names_is_read() -> None:
    obj, cms = binary_pod({"app.env": b64(f"OPENAI_BASE_URL={OPENAI}\n")}, env={"DOTENV_PATH": "/srv/app.env"})
    assert [t.url.host for t in targets_of(obj, cms) if "volumeMounts" in t.field] == ["api.openai.com"]


def test_any_other_binary_data_file_is_scanned_for_model_host_urls() -> None:
    obj, cms = binary_pod({"gateway.ini": b64(f"[upstream]\nurl = {OPENAI}/chat\n")})
    assert [t.url.host for t in targets_of(obj, cms)] == ["api.openai.com"]


def test_binary_data_that_is_not_utf8_is_unreadable_where_a_client_loads_it_and_ignored_elsewhere() -> None:
    garbage = b64(b"\xff\xfe\x00\x81 not text")
    obj, cms = binary_pod({".env": garbage, "logo.png": garbage}, workingDir="/srv")
    decision = judge(obj, context(config_maps=cms))
    assert codes(decision) == ["UnreadableConfigFile"]
    assert "/srv/.env" in decision.violations[0].message
    assert "logo.png" not in decision.violations[0].message
    obj, cms = binary_pod({"logo.png": garbage, "cert.der": garbage}, workingDir="/srv")
    assert codes(judge(obj, context(config_maps=cms))) == []


def test_env_references_read_only_data_never_binary_data() -> None:
    body = {"data": {"url": APPROVED_V1}, "binaryData": {"url": b64(OPENAI), "other": b64(OPENAI)}}
    cms = {("apps", "app-config"): config_map_data(body)}
    ref = {"configMapRef": {"name": "app-config"}}
    obj = pod(container(envFrom=[ref], env=None))
    hosts = {t.url.host for t in targets_of(obj, cms) if t.url is not None}
    assert "api.openai.com" not in hosts
    assert dict(cms[("apps", "app-config")]) == {"url": APPROVED_V1}
