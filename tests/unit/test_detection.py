"""What counts as "configured for OpenAI traffic", and where that traffic goes."""

from __future__ import annotations

import pytest
from builders import APPROVED_URL, codes, container, judge, pod

from modelroute.engine.detection import TargetKind, inspect_pod_spec
from modelroute.engine.verdict import Outcome


def targets(spec_pod: dict, config_maps: dict | None = None) -> list[tuple[str, str | None]]:
    findings = inspect_pod_spec(spec_pod["spec"], "spec", "apps", config_maps or {})
    return [(t.setting, t.url.host if t.url else None) for f in findings for t in f.targets]


@pytest.mark.parametrize(
    "variable",
    [
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_API_BASE",
        "OPENAI_API_BASE_URL",
        "AZURE_OPENAI_BASE_URL",
        "OPENAI_REVERSE_PROXY",
    ],
)
def test_a_known_endpoint_variable_is_a_target(variable: str) -> None:
    assert targets(pod(container(env={variable: "https://api.openai.com/v1"}))) == [(variable, "api.openai.com")]


def test_open_webui_url_lists_are_split_on_semicolons() -> None:
    value = "https://a.openai.azure.com/openai/v1;https://api.openai.com/v1"
    assert [h for _, h in targets(pod(container(env={"OPENAI_API_BASE_URLS": value})))] == [
        "a.openai.azure.com",
        "api.openai.com",
    ]


def test_an_azure_instance_name_means_its_openai_azure_com_host() -> None:
    assert targets(pod(container(env={"AZURE_OPENAI_API_INSTANCE_NAME": "contoso"}))) == [
        ("AZURE_OPENAI_API_INSTANCE_NAME", "contoso.openai.azure.com")
    ]


def test_a_credential_without_an_endpoint_means_the_sdk_default_api_openai_com() -> None:
    findings = inspect_pod_spec(pod(container(env={"OPENAI_API_KEY": "x"}))["spec"], "spec", "apps", {})
    (target,) = findings[0].targets
    assert target.kind is TargetKind.DEFAULT
    assert target.url is not None
    assert target.url.host == "api.openai.com"


def test_a_credential_with_an_endpoint_adds_no_default_target() -> None:
    env = {"OPENAI_API_KEY": "x", "OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}
    assert [h for _, h in targets(pod(container(env=env)))] == ["contoso-eastus.openai.azure.com"]


@pytest.mark.parametrize(
    "other",
    [
        {"OPENAI_API_TYPE": "azure"},
        {"OPENAI_API_BASE": APPROVED_URL + "/openai/v1"},
        {"OPENAI_REVERSE_PROXY": APPROVED_URL + "/openai/v1"},
    ],
)
def test_only_openai_base_url_keeps_the_plain_client_off_api_openai_com(other: dict[str, str]) -> None:
    # openai.OpenAI() reads OPENAI_BASE_URL alone; see test_openai_sdk for the SDK itself
    env = {"OPENAI_API_KEY": "x", "AZURE_OPENAI_ENDPOINT": APPROVED_URL, **other}
    assert "api.openai.com" in [h for _, h in targets(pod(container(env=env)))]


@pytest.mark.parametrize("field", ["command", "args"])
def test_openai_urls_in_the_command_line_are_targets(field: str) -> None:
    c = container(**{field: ["python", "app.py", "--base-url=https://EU.api.openai.com./v1"]})
    assert targets(pod(c)) == [(f"{field}[2]", "eu.api.openai.com")]


def test_openai_urls_inside_other_env_values_are_targets() -> None:
    c = container(env={"SETTINGS_JSON": '{"llm": {"url": "https://x.openai.azure.com/openai/v1"}}'})
    assert targets(pod(c)) == [("env SETTINGS_JSON", "x.openai.azure.com")]


def test_urls_of_unrelated_hosts_in_free_text_are_not_targets() -> None:
    c = container(env={"DATABASE_URL": "https://db.example.com"}, args=["--sink=https://logs.example.com"])
    assert targets(pod(c)) == []


def test_kubernetes_variable_expansion_is_applied_before_judging() -> None:
    c = container(env={"HOST": "api.openai.com", "OPENAI_BASE_URL": "https://$(HOST)/v1"})
    assert targets(pod(c)) == [("OPENAI_BASE_URL", "api.openai.com")]


def test_command_lines_are_expanded_with_the_container_env() -> None:
    c = container(env={"U": "https://api.openai.com/v1"}, args=["--url", "$(U)"])
    assert ("args[1]", "api.openai.com") in targets(pod(c))


@pytest.mark.parametrize("kind", ["initContainers", "ephemeralContainers"])
def test_init_and_ephemeral_containers_are_judged_too(kind: str) -> None:
    p = pod(container(name="main"))
    p["spec"][kind] = [container(name="side", env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})]
    decision = judge(p)
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.violations[0].field == f"spec.{kind}[0].env[0]"


def test_endpoints_from_a_config_map_key_are_resolved() -> None:
    c = container(env=None)
    c["env"] = [{"name": "OPENAI_BASE_URL", "valueFrom": {"configMapKeyRef": {"name": "llm", "key": "url"}}}]
    found = targets(pod(c), {("apps", "llm"): {"url": "https://api.openai.com/v1"}})
    assert found == [("OPENAI_BASE_URL", "api.openai.com")]


def test_endpoints_from_env_from_config_maps_are_resolved_with_their_prefix() -> None:
    c = container(envFrom=[{"prefix": "OPENAI_", "configMapRef": {"name": "llm"}}])
    found = targets(pod(c), {("apps", "llm"): {"BASE_URL": "https://api.openai.com/v1"}})
    assert found == [("OPENAI_BASE_URL", "api.openai.com")]


def test_a_later_env_entry_overrides_env_from() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "llm"}}], env={"OPENAI_BASE_URL": APPROVED_URL})
    found = targets(pod(c), {("apps", "llm"): {"OPENAI_BASE_URL": "https://api.openai.com/v1"}})
    assert found == [("OPENAI_BASE_URL", "contoso-eastus.openai.azure.com")]


def test_an_unresolvable_config_map_reference_is_reported_not_ignored() -> None:
    c = container()
    c["env"] = [{"name": "OPENAI_BASE_URL", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "url"}}}]
    decision = judge(pod(c))
    assert codes(decision) == ["UnresolvedReference"]
    assert "ConfigMap apps/gone does not exist" in decision.violations[0].message


def test_a_missing_env_from_config_map_is_reported_for_a_model_backed_container() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "gone"}}])
    assert "UnresolvedReference" in codes(judge(pod(c)))


def test_an_endpoint_from_a_secret_cannot_be_proven_and_is_reported() -> None:
    c = container()
    c["env"] = [{"name": "OPENAI_BASE_URL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "url"}}}]
    decision = judge(pod(c))
    assert codes(decision) == ["EndpointNotVisible"]
    assert "cannot see" in decision.violations[0].message


@pytest.mark.parametrize("reference", ["$(FROM_SECRET_ENV)", "$(KUBERNETES_PORT)"])
def test_an_endpoint_built_from_a_variable_defined_elsewhere_cannot_be_proven(reference: str) -> None:
    # the kubelet fills such names from envFrom Secrets or service links; their values are unknown here
    c = container(env={"OPENAI_BASE_URL": f"https://{reference}@contoso-eastus.openai.azure.com/openai/v1"})
    c["envFrom"] = [{"secretRef": {"name": "s"}}]
    judged = {(v.code, (v.field or "").rsplit(".", 1)[-1]) for v in judge(pod(c)).violations}
    assert judged == {("EndpointNotVisible", "env[0]"), ("EndpointNotVisible", "envFrom[0]")}


def test_a_missing_optional_config_map_leaves_the_earlier_definition_in_force() -> None:
    c = container(env={"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    c["env"].append(
        {
            "name": "OPENAI_BASE_URL",
            "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "url", "optional": True}},
        }
    )
    assert targets(pod(c)) == [("OPENAI_BASE_URL", "api.openai.com")]


def test_host_aliases_that_redirect_a_model_host_are_refused() -> None:
    p = pod(container(), hostAliases=[{"ip": "203.0.113.7", "hostnames": ["contoso-eastus.openai.azure.com"]}])
    assert codes(judge(p)) == ["HostAliasOverride"]


def test_an_endpoint_built_from_a_secret_variable_cannot_be_proven() -> None:
    c = container()
    c["env"] = [
        {"name": "H", "valueFrom": {"secretKeyRef": {"name": "s", "key": "h"}}},
        {"name": "OPENAI_BASE_URL", "value": "https://$(H)/v1"},
    ]
    assert codes(judge(pod(c))) == ["EndpointNotVisible"]


def test_a_malformed_endpoint_url_is_a_violation_that_says_why() -> None:
    decision = judge(pod(container(env={"OPENAI_BASE_URL": "https://a@b@contoso-eastus.openai.azure.com"})))
    assert codes(decision) == ["MalformedEndpointURL"]


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_BEDROCK_BASE_URL": "https://bedrock-runtime.us-east-1.amazonaws.com"},
        {"OPENAI_API_TYPE": "amazon-bedrock"},
    ],
)
def test_routes_to_aws_bedrock_are_non_azure_providers(env: dict[str, str]) -> None:
    assert codes(judge(pod(container(env=env)))) == ["NonAzureProvider"]


def test_a_pod_with_no_openai_configuration_is_left_alone() -> None:
    decision = judge(pod(container(env={"LOG_LEVEL": "debug"}), app="web"))
    assert decision.allowed
    assert decision.outcome is Outcome.NOT_APPLICABLE
    assert decision.patch == []
    assert decision.annotations == {}


def test_secret_values_never_appear_in_messages() -> None:
    c = container(env={"OPENAI_API_KEY": "sk-very-secret", "OPENAI_BASE_URL": "https://u:pw@api.openai.com/v1?key=q"})
    decision = judge(pod(c, app="unmanaged"))
    text = " ".join([v.message for v in decision.violations] + list(decision.warnings))
    assert "sk-very-secret" not in text
    assert "pw" not in text.replace("api.openai.com", "")
    assert "key=q" not in text


def test_a_literal_api_key_in_a_manifest_earns_a_warning() -> None:
    decision = judge(pod(container(env={"OPENAI_API_KEY": "sk-x"})))
    assert any("keep API keys in a Secret" in w for w in decision.warnings)


@pytest.mark.parametrize("url", ["https://api%2eopenai.com/v1", "https://a\\@api.openai.com/v1"])
def test_a_url_in_free_text_that_clients_read_differently_is_reported(url: str) -> None:
    decision = judge(pod(container(args=["--base-url", url])))
    assert codes(decision) == ["MalformedEndpointURL"]
