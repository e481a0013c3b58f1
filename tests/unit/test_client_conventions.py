"""Every client convention docs/clients.md lists is read where the client reads it: environment
variables, JVM system properties, Spring Boot properties (relaxed binding), SPRING_APPLICATION_JSON,
command lines, lifecycle hooks and exec probes; and every profile writes what its client reads."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from builders import APPROVED_URL, codes, container, context, deployment, env_of, judge, pod, workload

from modelroute.engine.verdict import Outcome

EVIL = "https://llm-proxy.example.net/v1"


def _uncovered(c: dict[str, Any]) -> dict[str, Any]:
    return pod(c, app="other")


# ---------------------------------------------------------------------------------------------
# openai-java: the system property openai.baseUrl wins over OPENAI_BASE_URL
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "JAVA_OPTS"])
def test_a_jvm_options_variable_that_sets_openai_base_url_is_judged(variable: str) -> None:
    c = container(env={variable: f"-Xmx512m -Dopenai.baseUrl={EVIL} -Dfile.encoding=UTF-8"})
    decision = judge(pod(c))
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.violations[0].field == "spec.containers[0].env[0]"


def test_a_jvm_property_naming_the_approved_endpoint_is_admitted() -> None:
    c = container(env={"JAVA_TOOL_OPTIONS": f"-Dopenai.baseUrl={APPROVED_URL}/openai/v1"})
    assert judge(pod(c)).allowed


def test_a_quoted_jvm_property_is_read_without_its_quotes() -> None:
    c = container(env={"JDK_JAVA_OPTIONS": f"'-Dopenai.baseUrl={EVIL}'"})
    assert codes(judge(pod(c))) == ["EndpointNotApproved"]


def test_a_system_property_on_the_java_command_line_is_judged() -> None:
    c = container(command=["java", f"-Dopenai.baseUrl={EVIL}", "-jar", "app.jar"])
    decision = judge(pod(c))
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.violations[0].field == "spec.containers[0].command[1]"


def test_a_system_property_inside_a_shell_script_is_judged() -> None:
    c = container(command=["sh", "-c", f'exec java "-Dopenai.baseUrl={EVIL}" -jar /app.jar'])
    assert codes(judge(pod(c))) == ["EndpointNotApproved"]


def test_an_openai_java_key_property_with_no_base_url_goes_to_openai() -> None:
    c = container(env={"JAVA_TOOL_OPTIONS": "-Dopenai.apiKey=sk-test"})
    decision = judge(_uncovered(c), context(workloads=[]))
    assert "DefaultOpenAIEndpoint" in codes(decision)


def test_a_jvm_options_variable_from_a_secret_is_not_visible() -> None:
    c = container()
    c["env"] = [{"name": "JAVA_TOOL_OPTIONS", "valueFrom": {"secretKeyRef": {"name": "jvm", "key": "opts"}}}]
    assert codes(judge(pod(c))) == ["EndpointNotVisible"]


# ---------------------------------------------------------------------------------------------
# Spring AI through Spring Boot's relaxed binding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    [
        "SPRING_AI_OPENAI_BASE_URL",
        "SPRING_AI_OPENAI_BASEURL",
        "spring_ai_openai_base_url",
        "SPRING_AI_OPENAI_CHAT_BASE_URL",
        "SPRING_AI_OPENAI_EMBEDDING_BASEURL",
        "SPRING_AI_AZURE_OPENAI_ENDPOINT",
    ],
)
def test_spring_ai_endpoint_variables_are_judged(variable: str) -> None:
    assert codes(judge(pod(container(env={variable: EVIL})))) == ["EndpointNotApproved"]


@pytest.mark.parametrize(
    "properties",
    [
        {"spring.ai.openai.base-url": EVIL},
        {"spring": {"ai": {"openai": {"base-url": EVIL}}}},
        {"spring": {"ai": {"azure": {"openai": {"endpoint": EVIL}}}}},
        {"spring.ai.openai.chat": {"baseUrl": EVIL}},
    ],
)
def test_spring_application_json_endpoints_are_judged(properties: dict[str, Any]) -> None:
    c = container(env={"SPRING_APPLICATION_JSON": json.dumps(properties)})
    assert codes(judge(pod(c))) == ["EndpointNotApproved"]


def test_spring_command_line_properties_are_judged() -> None:
    c = container(args=[f"--spring.ai.openai.base-url={EVIL}"])
    assert codes(judge(pod(c))) == ["EndpointNotApproved"]


def test_spring_properties_as_jvm_system_properties_are_judged() -> None:
    c = container(env={"JAVA_TOOL_OPTIONS": f"-Dspring.ai.azure.openai.endpoint={EVIL}"})
    assert codes(judge(pod(c))) == ["EndpointNotApproved"]


def test_a_spring_ai_key_with_no_base_url_goes_to_openai() -> None:
    c = container()
    c["env"] = [{"name": "SPRING_AI_OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}}]
    decision = judge(pod(c))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]
    assert "spring.ai.openai.base-url" in decision.violations[0].message


def test_spring_ai_azure_starters_openai_key_always_goes_to_openai() -> None:
    c = container(env={"SPRING_AI_AZURE_OPENAI_ENDPOINT": APPROVED_URL})
    c["env"].append(
        {"name": "SPRING_AI_AZURE_OPENAI_OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}}
    )
    assert codes(judge(pod(c))) == ["DefaultOpenAIEndpoint"]


# ---------------------------------------------------------------------------------------------
# Vercel AI SDK: @ai-sdk/azure builds its host from AZURE_RESOURCE_NAME
# ---------------------------------------------------------------------------------------------


def test_an_ai_sdk_azure_resource_name_is_a_host() -> None:
    decision = judge(pod(container(env={"AZURE_RESOURCE_NAME": "someone-else"})))
    assert codes(decision) == ["EndpointNotApproved"]
    assert "someone-else.openai.azure.com" in decision.violations[0].message


def test_an_ai_sdk_azure_resource_name_cannot_smuggle_another_host() -> None:
    decision = judge(pod(container(env={"AZURE_RESOURCE_NAME": "llm-proxy.example.net/x?"})))
    assert codes(decision) == ["EndpointNotApproved"]


def test_the_approved_resource_name_is_admitted() -> None:
    assert judge(pod(container(env={"AZURE_RESOURCE_NAME": "contoso-eastus"}))).allowed


# ---------------------------------------------------------------------------------------------
# What each profile writes
# ---------------------------------------------------------------------------------------------


def _injected(profiles: list[str]) -> dict[str, Any]:
    p = pod(container())
    decision = judge(p, context(workloads=[workload(inject={"profiles": profiles})]))
    assert decision.allowed
    return env_of(decision, p)


def test_the_spring_ai_profile_writes_both_relaxed_names_without_the_v1_suffix() -> None:
    env = _injected(["SpringAI"])
    assert env["SPRING_AI_OPENAI_BASEURL"] == f"{APPROVED_URL}/openai"
    assert env["SPRING_AI_OPENAI_BASE_URL"] == f"{APPROVED_URL}/openai"


def test_the_spring_ai_azure_profile_writes_the_azure_endpoint() -> None:
    assert _injected(["SpringAIAzureOpenAI"])["SPRING_AI_AZURE_OPENAI_ENDPOINT"] == APPROVED_URL


def test_the_vercel_ai_profile_writes_the_resource_name_and_the_openai_base_url() -> None:
    env = _injected(["VercelAI"])
    assert env["AZURE_RESOURCE_NAME"] == "contoso-eastus"
    assert env["OPENAI_BASE_URL"] == f"{APPROVED_URL}/openai/v1"


# ---------------------------------------------------------------------------------------------
# Every command a container runs
# ---------------------------------------------------------------------------------------------

HOOK_AND_PROBE_FIELDS = [
    ("lifecycle", {"postStart": {"exec": {"command": ["curl", "https://api.openai.com/v1/models"]}}}),
    ("lifecycle", {"preStop": {"exec": {"command": ["sh", "-c", "curl https://api.openai.com/v1/models"]}}}),
    ("livenessProbe", {"exec": {"command": ["curl", "-f", "https://api.openai.com/v1/models"]}}),
    ("readinessProbe", {"exec": {"command": ["curl", "-f", "https://api.openai.com/v1/models"]}}),
    ("startupProbe", {"exec": {"command": ["curl", "-f", "https://api.openai.com/v1/models"]}}),
]


@pytest.mark.parametrize(("field", "value"), HOOK_AND_PROBE_FIELDS)
@pytest.mark.parametrize("kind", ["initContainers", "containers", "ephemeralContainers"])
def test_hooks_and_exec_probes_are_judged_in_every_kind_of_container(field: str, value: Any, kind: str) -> None:
    c = container(**{field: value})
    p = pod(container())
    p["spec"].setdefault(kind, []).append(c)
    decision = judge(p, context(workloads=[]))
    assert "EndpointNotApproved" in codes(decision)
    assert any(field in (v.field or "") for v in decision.violations)


def test_hooks_and_exec_probes_of_a_pod_template_are_judged() -> None:
    c = container(livenessProbe={"exec": {"command": ["curl", "https://api.openai.com/v1/models"]}})
    decision = judge(deployment(pod(c)))
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.violations[0].field == "spec.template.spec.containers[0].livenessProbe.exec.command[1]"


def test_a_probe_command_that_is_not_a_list_of_strings_is_refused_as_input() -> None:
    from modelroute.engine.podspec import NotAPodError

    with pytest.raises(NotAPodError, match=r"readinessProbe\.exec\.command"):
        judge(pod(container(readinessProbe={"exec": {"command": "curl https://api.openai.com"}})))


# ---------------------------------------------------------------------------------------------
# Values that cannot be seen now, or may resolve later
# ---------------------------------------------------------------------------------------------


def test_a_whole_secret_imported_with_env_from_is_reported_even_with_nothing_else_set() -> None:
    c = container()
    c["envFrom"] = [{"secretRef": {"name": "llm-settings"}}]
    decision = judge(_uncovered(c), context(workloads=[]))
    assert "EndpointNotVisible" in codes(decision)
    assert decision.outcome is Outcome.DENIED


def test_an_optional_config_map_that_does_not_exist_yet_is_unresolved() -> None:
    c = container()
    c["envFrom"] = [{"configMapRef": {"name": "later", "optional": True}}]
    assert codes(judge(pod(c))) == ["UnresolvedReference"]


def test_an_optional_endpoint_reference_that_resolves_to_nothing_now_is_unresolved() -> None:
    c = container(env={"OPENAI_BASE_URL": f"{APPROVED_URL}/openai/v1"})
    ref = {"name": "later", "key": "url", "optional": True}
    c["env"].append({"name": "OPENAI_BASE_URL", "valueFrom": {"configMapKeyRef": ref}})
    assert codes(judge(pod(c))) == ["UnresolvedReference"]


def test_an_optional_reference_for_an_unrelated_variable_is_not_reported() -> None:
    c = container()
    ref = {"name": "later", "key": "level", "optional": True}
    c["env"] = [{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": ref}}]
    assert codes(judge(pod(c))) == []


@pytest.mark.parametrize(
    ("value_from", "code"),
    [
        ({"secretKeyRef": {"name": "s", "key": "type"}}, "EndpointNotVisible"),
        ({"fieldRef": {"fieldPath": "metadata.annotations['type']"}}, "EndpointNotVisible"),
        ({"configMapKeyRef": {"name": "absent", "key": "type"}}, "UnresolvedReference"),
    ],
)
def test_a_provider_selector_whose_value_cannot_be_seen_is_reported(value_from: dict[str, Any], code: str) -> None:
    c = container()
    c["env"] = [{"name": "OPENAI_API_TYPE", "valueFrom": value_from}]
    assert codes(judge(pod(c))) == [code]


# ---------------------------------------------------------------------------------------------
# Pinning through indirection
# ---------------------------------------------------------------------------------------------


def _patched(p: dict[str, Any], ctx: Any) -> dict[str, Any]:
    decision = judge(p, ctx)
    assert decision.allowed
    return jsonpatch.apply_patch(copy.deepcopy(p), decision.patch)


def test_an_approved_endpoint_reaching_the_client_through_a_variable_chain_is_pinned() -> None:
    c = container()
    c["env"] = [
        {"name": "BASE", "valueFrom": {"configMapKeyRef": {"name": "llm", "key": "base"}}},
        {"name": "OPENAI_BASE_URL", "value": "$(BASE)/openai/v1"},
    ]
    ctx = context(config_maps={("apps", "llm"): {"base": APPROVED_URL}})
    env = {e["name"]: e for e in _patched(pod(c), ctx)["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"] == {"name": "OPENAI_BASE_URL", "value": f"{APPROVED_URL}/openai/v1"}


def test_a_pinned_value_is_escaped_so_that_expansion_gives_it_back() -> None:
    c = container()
    c["env"] = [{"name": "OPENAI_BASE_URL", "valueFrom": {"configMapKeyRef": {"name": "llm", "key": "url"}}}]
    url = f"{APPROVED_URL}/openai/v1?x=$(HOME)"
    env = _patched(pod(c), context(config_maps={("apps", "llm"): {"url": url}}))["spec"]["containers"][0]["env"]
    assert env[0]["value"] == f"{APPROVED_URL}/openai/v1?x=$$(HOME)"


def test_jvm_options_from_a_config_map_are_pinned() -> None:
    c = container()
    c["env"] = [{"name": "JAVA_TOOL_OPTIONS", "valueFrom": {"configMapKeyRef": {"name": "jvm", "key": "opts"}}}]
    opts = f"-Dopenai.baseUrl={APPROVED_URL}/openai/v1"
    env = _patched(pod(c), context(config_maps={("apps", "jvm"): {"opts": opts}}))["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "JAVA_TOOL_OPTIONS", "value": opts}


# ---------------------------------------------------------------------------------------------
# Annotation ownership
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["modelroute.io/approved", "modelroute.io/decision-override", "modelroute.io/x"])
def test_no_modelroute_annotation_survives_admission_unless_admission_wrote_it(key: str) -> None:
    p = pod(container(), annotations={key: "true", "team": "x"})
    patched = _patched(p, context())
    annotations = patched["metadata"]["annotations"]
    assert key not in annotations
    assert annotations["team"] == "x"
    assert annotations["modelroute.io/decision"] == "compliant"
