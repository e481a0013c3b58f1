"""Pods that route correctly are not denied for the way their configuration is written: JSON text is
judged as decoded, a Secret that cannot hold a client file is not one, and .NET configuration JSON is
read as .NET reads it."""

from __future__ import annotations

from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, judge, pod

from modelroute.engine.environment import container_env
from modelroute.engine.mounts import Origin, container_files, volumes_by_name
from modelroute.engine.verdict import Outcome

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


# -- a Secret that might hold a client file ---------------------------------------------------------


def secret_pod(mount_path: str, *, app: str = "chat", env: dict[str, str] | None = None, **fields: Any) -> Any:
    app_container = container(env=env, volumeMounts=[{"name": "s", "mountPath": mount_path}], **fields)
    return pod(app_container, app=app, volumes=[{"name": "s", "secret": {"secretName": "creds"}}])


def test_an_unmanaged_pod_that_only_mounts_a_secret_at_its_home_is_not_applicable() -> None:
    obj = secret_pod("/home/u", app="git-sync", env={"HOME": "/home/u"}, workingDir="/home/u")
    decision = decide(obj)
    assert codes(decision) == []
    assert decision.outcome is Outcome.NOT_APPLICABLE


def test_a_secret_without_items_cannot_hold_a_nested_client_file() -> None:
    # Secret keys hold no `/`: a Secret at $HOME provides no .codex/config.toml
    obj = secret_pod("/home/u", env={"HOME": "/home/u", "OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"})
    files = container_files(
        obj["spec"]["containers"][0],
        volumes_by_name(obj["spec"]),
        container_env(obj["spec"]["containers"][0], "apps", {}),
        "apps",
        {},
    )
    assert files.file_at("/home/u/.codex/config.toml").origin is Origin.ABSENT
    assert files.file_at("/home/u/.env").origin is Origin.SECRET
    assert "EndpointNotVisible" not in codes(decide(obj))


def test_a_secret_in_the_working_directory_counts_where_the_pod_is_covered() -> None:
    obj = secret_pod("/app", workingDir="/app")
    decision = decide(obj)
    assert codes(decision) == ["EndpointNotVisible"]
    message = decision.violations[0].message
    assert "configuration files,:" not in message
    assert "/app comes from Secret apps/creds" in message


def test_a_secret_in_the_working_directory_counts_where_other_signals_say_openai() -> None:
    obj = secret_pod("/app", app="web", env={"OPENAI_API_KEY": "sk-x"}, workingDir="/app")
    assert "EndpointNotVisible" in codes(decide(obj))
    assert codes(decide(secret_pod("/app", app="web", workingDir="/app"))) == []


def test_a_secret_file_a_variable_names_always_counts() -> None:
    obj = secret_pod("/app", app="web", env={"DOTENV_PATH": "/app/.env"})
    assert "EndpointNotVisible" in codes(decide(obj))
