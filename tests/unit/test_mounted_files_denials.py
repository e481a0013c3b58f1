"""Pods that route correctly are not denied for the way their configuration is written: JSON text is
judged as decoded, a Secret that cannot hold a client file is not one, and .NET configuration JSON is
read as .NET reads it."""

from __future__ import annotations

from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, judge, pod

ESCAPED_APPROVED = APPROVED_URL.replace("/", "\\/")
ESCAPED_OPENAI = "https:\\/\\/api.openai.com\\/v1"


def mounted(files: dict[str, str], path: str, **fields: Any) -> tuple[dict[str, Any], dict[Any, dict[str, str]]]:
    app = container(volumeMounts=[{"name": "conf", "mountPath": path}], **fields)
    return pod(app, volumes=[{"name": "conf", "configMap": {"name": "c"}}]), {("apps", "c"): files}


def decide(obj: dict[str, Any], config_maps: dict[Any, dict[str, str]] | None = None) -> Any:
    return judge(obj, context(config_maps=config_maps or {}))


# -- JSON-escaped slashes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"OAI_CONFIG_LIST": f'[{{"model":"gpt-4o","api_type":"azure","base_url":"{ESCAPED_APPROVED}\\/"}}]'},
        {"SPRING_APPLICATION_JSON": f'{{"spring.ai.openai.base-url":"{ESCAPED_APPROVED}\\/openai"}}'},
        {"GATEWAY_UPSTREAMS": f'{{"chat":"{ESCAPED_APPROVED}\\/openai"}}'},
    ],
    ids=["oai-config-list", "spring-application-json", "other-variable"],
)
def test_json_escaped_slashes_in_a_variable_read_as_slashes(env: dict[str, str]) -> None:
    decision = decide(pod(container(env=env)))
    assert "MalformedEndpointURL" not in codes(decision)
    assert codes(decision) == []


def test_a_json_escaped_openai_url_in_a_variable_is_not_approved_not_malformed() -> None:
    decision = decide(pod(container(env={"GATEWAY_UPSTREAMS": f'{{"chat":"{ESCAPED_OPENAI}"}}'})))
    assert codes(decision) == ["EndpointNotApproved"]
    assert "api.openai.com" in decision.violations[0].message


def test_json_escaped_slashes_in_a_mounted_file_read_as_slashes() -> None:
    obj, cms = mounted({"other.json": f'{{"upstream":"{ESCAPED_APPROVED}"}}'}, "/srv", workingDir="/srv")
    assert codes(decide(obj, cms)) == []
    obj, cms = mounted({"other.json": f'{{"upstream":"{ESCAPED_OPENAI}"}}'}, "/srv", workingDir="/srv")
    decision = decide(obj, cms)
    assert codes(decision) == ["EndpointNotApproved"]
    assert "api.openai.com" in decision.violations[0].message
