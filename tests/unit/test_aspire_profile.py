"""The Aspire and DotNetConfiguration profiles: what a covered .NET pod receives, including the
Endpoint of its Aspire connection string where ModelRoute can write it."""

from __future__ import annotations

from typing import Any

import pytest
from builders import APPROVED_URL, codes, container, context, endpoint, env_of, judge, pod, policy, workload

from modelroute.engine.connection_strings import parse
from modelroute.engine.verdict import Outcome

ASPIRE = workload(inject={"profiles": ["Aspire"]})
SECRET = {"secretKeyRef": {"name": "llm", "key": "connection"}}


def aspire_context(**kwargs: Any) -> Any:
    return context(workloads=[kwargs.pop("workload", ASPIRE)], **kwargs)


def test_the_aspire_profile_writes_the_aspire_endpoint_settings() -> None:
    p = pod(container())
    env = env_of(judge(p, aspire_context()), p)
    assert env["Aspire__OpenAI__Endpoint"] == APPROVED_URL + "/openai/v1"
    assert env["Aspire__Azure__AI__OpenAI__Endpoint"] == APPROVED_URL


def test_a_key_only_connection_string_gets_the_approved_endpoint_and_keeps_the_rest() -> None:
    p = pod(container(env={"ConnectionStrings__openai": "Key=sk-1;Deployment=gpt-4o"}))
    decision = judge(p, aspire_context())
    assert decision.allowed, decision.violations
    assert decision.outcome is Outcome.COMPLIANT
    written = parse(env_of(decision, p)["ConnectionStrings__openai"])
    # with no Endpoint it was an OpenAIClient's string: it stays one (Aspire picks the Azure client for .azure. hosts)
    assert written.get("Endpoint") == APPROVED_URL + "/openai/v1"
    assert written.get("IsAzure") == "false"
    assert written.get("Key") == "sk-1"
    assert written.get("Deployment") == "gpt-4o"


def test_without_the_profile_a_key_only_connection_string_is_refused() -> None:
    decision = judge(pod(container(env={"ConnectionStrings__openai": "Key=sk-1"})))
    assert codes(decision) == ["DefaultOpenAIEndpoint"]


def test_an_endpoint_elsewhere_is_rewritten_only_when_the_policy_says_rewrite() -> None:
    p = pod(container(env={"ConnectionStrings__openai": "Endpoint=https://api.openai.com/v1;Key=sk-1"}))
    assert codes(judge(p, aspire_context())) == ["EndpointNotApproved"]
    decision = judge(p, aspire_context(policies=[policy(rewrite=True)]))
    assert decision.outcome is Outcome.REWRITTEN
    written = parse(env_of(decision, p)["ConnectionStrings__openai"])
    assert written.get("Endpoint") == APPROVED_URL + "/openai/v1"
    assert written.get("Key") == "sk-1"


@pytest.mark.parametrize("value", ["Endpoint=https://other.openai.azure.com/;Key=sk-1", "Key=sk-1;IsAzure=true"])
def test_a_connection_string_for_the_azure_client_gets_the_resource_root(value: str) -> None:
    p = pod(container(env={"ConnectionStrings__openai": value}))
    decision = judge(p, aspire_context(policies=[policy(rewrite=True)]))
    assert decision.allowed, decision.violations
    written = parse(env_of(decision, p)["ConnectionStrings__openai"])
    assert written.get("Endpoint") == APPROVED_URL
    assert written.get("IsAzure") in (None, "true")


def test_is_azure_false_gets_the_openai_v1_url() -> None:
    p = pod(container(env={"ConnectionStrings__openai": "Key=sk-1;IsAzure=false"}))
    written = parse(env_of(judge(p, aspire_context()), p)["ConnectionStrings__openai"])
    assert written.get("Endpoint") == APPROVED_URL + "/openai/v1"


def test_an_openai_type_endpoint_gets_its_v1_url_and_no_azure_setting() -> None:
    ctx = aspire_context(
        endpoints=[endpoint("direct", url="https://api.openai.com", type="OpenAI")],
        workload=workload(endpoint_name="direct", channel="OpenAI", inject={"profiles": ["Aspire"]}),
    )
    p = pod(container(env={"ConnectionStrings__openai": "Key=sk-1"}))
    decision = judge(p, ctx)
    assert decision.allowed, decision.violations
    env = env_of(decision, p)
    assert parse(env["ConnectionStrings__openai"]).get("Endpoint") == "https://api.openai.com/v1"
    assert "Aspire__Azure__AI__OpenAI__Endpoint" not in env


def test_a_connection_string_from_a_config_map_is_written_over_in_the_pod() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "app"}}])
    p = pod(c)
    ctx = aspire_context(config_maps={("apps", "app"): {"ConnectionStrings__openai": "Key=sk-1"}})
    decision = judge(p, ctx)
    assert decision.allowed, decision.violations
    assert parse(env_of(decision, p)["ConnectionStrings__openai"]).get("Endpoint") == APPROVED_URL + "/openai/v1"


def test_an_approved_connection_string_from_a_config_map_is_pinned() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "app"}}])
    p = pod(c)
    value = f"Endpoint={APPROVED_URL}/;Key=$k"
    ctx = context(config_maps={("apps", "app"): {"ConnectionStrings__openai": value}})
    decision = judge(p, ctx)
    assert decision.allowed, decision.violations
    assert env_of(decision, p)["ConnectionStrings__openai"] == value.replace("$", "$$")


def test_a_connection_string_from_a_secret_cannot_be_written_and_the_warning_says_what_to_do() -> None:
    c = container()
    c["env"] = [{"name": "ConnectionStrings__openai", "valueFrom": SECRET}]
    decision = judge(pod(c), aspire_context())
    assert codes(decision) == ["EndpointNotVisible"]
    assert any("cannot write" in w and "Aspire__OpenAI__Endpoint" in w for w in decision.warnings)


def test_a_database_connection_string_is_left_alone() -> None:
    value = "Server=db;Database=shop;User ID=app;Password=p"
    p = pod(container(env={"ConnectionStrings__Default": value}))
    decision = judge(p, aspire_context(policies=[policy(rewrite=True)]))
    assert decision.outcome is Outcome.COMPLIANT
    assert env_of(decision, p)["ConnectionStrings__Default"] == value


def test_the_dot_net_configuration_profile_writes_the_section_settings() -> None:
    p = pod(container())
    ctx = context(workloads=[workload(inject={"profiles": ["DotNetConfiguration"]})])
    env = env_of(judge(p, ctx), p)
    assert env["OpenAI__Endpoint"] == APPROVED_URL + "/openai/v1"
    assert env["AzureOpenAI__Endpoint"] == APPROVED_URL


def test_the_profiles_write_their_keys_from_the_credentials_secret() -> None:
    inject = {"profiles": ["Aspire", "DotNetConfiguration"], "credentialsSecretRef": {"name": "k", "key": "api-key"}}
    p = pod(container())
    env = env_of(judge(p, context(workloads=[workload(inject=inject)])), p)
    reference = {"secretKeyRef": {"name": "k", "key": "api-key"}}
    for name in ("Aspire__OpenAI__Key", "Aspire__Azure__AI__OpenAI__Key", "OpenAI__ApiKey", "AzureOpenAI__ApiKey"):
        assert env[name] == reference, name


def test_an_aspire_key_is_routed_by_the_profile_and_refused_without_it() -> None:
    c = container()
    c["env"] = [{"name": "Aspire__OpenAI__Key", "valueFrom": SECRET}]
    assert codes(judge(pod(c))) == ["DefaultOpenAIEndpoint"]
    decision = judge(pod(c), aspire_context())
    assert decision.allowed, decision.violations
    assert decision.outcome is Outcome.COMPLIANT
