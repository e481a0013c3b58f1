"""The mutation a covered pod receives: client env, credential references, proxy, annotations."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from builders import APPROVED_URL, container, context, endpoint, env_of, judge, pod, policy, workload
from spies import first_arguments

from modelroute.engine import detection
from modelroute.engine.evaluate import evaluate, evaluate_produced
from modelroute.engine.verdict import Outcome

SECRET = {"name": "llm-key", "key": "api-key"}


def test_default_profiles_inject_the_openai_and_azure_openai_settings() -> None:
    p = pod(container())
    env = env_of(judge(p), p)
    assert env == {
        "OPENAI_BASE_URL": APPROVED_URL + "/openai/v1",
        "AZURE_OPENAI_ENDPOINT": APPROVED_URL,
        "OPENAI_API_VERSION": "2024-10-21",
    }


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("LangChain", {"OPENAI_API_BASE", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"}),
        ("LiteLLM", {"AZURE_API_BASE", "AZURE_API_VERSION", "OPENAI_BASE_URL"}),
        ("SemanticKernel", {"AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_VERSION"}),
        ("OpenWebUI", {"OPENAI_API_BASE_URL", "OPENAI_BASE_URL"}),
    ],
)
def test_each_profile_writes_its_clients_variables(profile: str, expected: set[str]) -> None:
    p = pod(container())
    decision = judge(p, context(workloads=[workload(inject={"profiles": [profile]})]))
    assert set(env_of(decision, p)) == expected


def test_credentials_are_injected_as_secret_references_never_values() -> None:
    p = pod(container())
    decision = judge(p, context(workloads=[workload(inject={"credentialsSecretRef": SECRET})]))
    env = env_of(decision, p)
    assert env["OPENAI_API_KEY"] == {"secretKeyRef": SECRET}
    assert env["AZURE_OPENAI_API_KEY"] == {"secretKeyRef": SECRET}


def test_settings_the_pod_already_has_on_the_approved_route_are_kept() -> None:
    p = pod(container(env={"OPENAI_BASE_URL": "https://CONTOSO-eastus.openai.azure.com./openai/v1/"}))
    env = env_of(judge(p), p)
    assert env["OPENAI_BASE_URL"] == "https://CONTOSO-eastus.openai.azure.com./openai/v1/"


def test_an_own_api_version_is_kept() -> None:
    p = pod(container(env={"OPENAI_API_VERSION": "2025-04-01-preview"}))
    assert env_of(judge(p), p)["OPENAI_API_VERSION"] == "2025-04-01-preview"


def test_only_the_named_containers_are_injected() -> None:
    p = pod(container("app"), container("sidecar"))
    decision = judge(p, context(workloads=[workload(inject={"containers": ["app"]})]))
    assert "OPENAI_BASE_URL" in env_of(decision, p, 0)
    assert env_of(decision, p, 1) == {}


def test_after_the_mutation_only_the_containers_it_changed_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    p = pod(container("app"), container("sidecar", env={"LOG_LEVEL": "info"}), initContainers=[container("migrate")])
    ctx = context(workloads=[workload(inject={"containers": ["app"]})])
    read = first_arguments(monkeypatch, detection, "inspect_container")
    decision = judge(p, ctx)
    assert decision.patch
    names = [c["name"] for c in read]
    assert sorted(names) == ["app", "app", "migrate", "sidecar"]  # the three once, then the mutated app
    # judged as it will run all the same
    produced = jsonpatch.apply_patch(copy.deepcopy(p), decision.patch)
    assert evaluate_produced(decision) == evaluate(produced, ctx, mutate=False)


def test_naming_a_container_the_pod_lacks_earns_a_warning() -> None:
    decision = judge(pod(container("app")), context(workloads=[workload(inject={"containers": ["ghost"]})]))
    assert any("'ghost'" in w for w in decision.warnings)


def test_init_containers_are_not_injected() -> None:
    p = pod(container("app"), initContainers=[container("migrate")])
    decision = judge(p)
    assert all("initContainers" not in op["path"] for op in decision.patch)


def test_an_openai_type_endpoint_gets_v1_and_no_azure_settings() -> None:
    ctx = context(
        endpoints=[endpoint(url="https://eu.api.openai.com", type="OpenAI")], workloads=[workload(channel="OpenAI")]
    )
    p = pod(container())
    assert env_of(judge(p, ctx), p) == {"OPENAI_BASE_URL": "https://eu.api.openai.com/v1"}


def test_an_endpoint_url_with_a_path_is_used_as_the_base_url_verbatim() -> None:
    ctx = context(endpoints=[endpoint(url="https://contoso-ai.azure-api.net/team-a/", type="APIManagement")])
    p = pod(container())
    env = env_of(judge(p, ctx), p)
    assert env["OPENAI_BASE_URL"] == "https://contoso-ai.azure-api.net/team-a"


def test_an_endpoint_proxy_is_injected_for_python_and_node_clients() -> None:
    ctx = context(endpoints=[endpoint(egress={"proxy": "http://proxy.corp:3128"})])
    p = pod(container())
    env = env_of(judge(p, ctx), p)
    assert env["HTTPS_PROXY"] == "http://proxy.corp:3128"
    assert env["NODE_USE_ENV_PROXY"] == "1"
    assert ".svc" in env["NO_PROXY"]


def test_covered_pods_carry_the_procurement_annotations() -> None:
    ctx = context(workloads=[workload(procurement={"channel": "Microsoft", "reference": "PO-1", "costCenter": "CC-9"})])
    decision = judge(pod(container()), ctx)
    assert decision.annotations == {
        "modelroute.io/procurement-channel": "Microsoft",
        "modelroute.io/workload": "chat",
        "modelroute.io/endpoint": "contoso",
        "modelroute.io/endpoint-host": "contoso-eastus.openai.azure.com",
        "modelroute.io/api-mode": "Stateless",
        "modelroute.io/procurement-reference": "PO-1",
        "modelroute.io/cost-center": "CC-9",
        "modelroute.io/decision": "compliant",
    }


def test_forged_modelroute_annotations_on_an_unrelated_pod_are_removed() -> None:
    p = pod(container(), app="web", annotations={"modelroute.io/procurement-channel": "Microsoft", "team": "x"})
    decision = judge(p)
    patched = jsonpatch.apply_patch(copy.deepcopy(p), decision.patch)
    assert patched["metadata"]["annotations"] == {"team": "x"}


def test_forged_annotations_on_a_covered_pod_are_overwritten_with_the_truth() -> None:
    p = pod(container(), annotations={"modelroute.io/procurement-channel": "OpenAI"})
    patched = jsonpatch.apply_patch(copy.deepcopy(p), judge(p).patch)
    assert patched["metadata"]["annotations"]["modelroute.io/procurement-channel"] == "Microsoft"


def test_forged_annotations_are_removed_in_ungoverned_namespaces_too() -> None:
    from builders import policy

    ctx = context(policies=[policy(excludedNamespaces=["apps"])])
    p = pod(container(), app="web", annotations={"modelroute.io/procurement-channel": "Microsoft"})
    patched = jsonpatch.apply_patch(copy.deepcopy(p), judge(p, ctx).patch)
    assert "modelroute.io/procurement-channel" not in patched["metadata"].get("annotations", {})


def test_an_approved_endpoint_from_a_config_map_is_pinned_as_a_literal() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "llm"}}])
    p = pod(c)
    ctx = context(config_maps={("apps", "llm"): {"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"}})
    assert env_of(judge(p, ctx), p)["OPENAI_BASE_URL"] == APPROVED_URL + "/openai/v1"


def test_the_patch_is_valid_json_patch_and_leaves_the_input_untouched() -> None:
    p = pod(container(env={"A": "1"}))
    before = copy.deepcopy(p)
    decision = judge(p)
    jsonpatch.apply_patch(p, decision.patch)  # raises if invalid
    assert p == before


def test_a_second_pass_over_a_mutated_pod_changes_nothing() -> None:
    p = pod(container())
    once = jsonpatch.apply_patch(copy.deepcopy(p), judge(p).patch)
    again = judge(once)
    assert again.patch == []
    assert again.outcome is Outcome.COMPLIANT


def test_pod_controllers_are_judged_but_never_patched() -> None:
    from builders import deployment

    decision = judge(deployment(pod(container())))
    assert decision.allowed
    assert decision.patch == []
    assert decision.annotations["modelroute.io/workload"] == "chat"


DIRECT_URL = "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("case", "subject", "ctx"),
    [
        ("injected", pod(container()), None),
        ("rewritten", pod(container(env={"OPENAI_BASE_URL": DIRECT_URL})), context(policies=[policy(rewrite=True)])),
        (
            "forged annotations dropped, others kept",
            pod(container(), annotations={"modelroute.io/decision": "compliant", "team": "a", "modelroute.io/x": "1"}),
            None,
        ),
        ("two containers", pod(container("a"), container("b", env={"OPENAI_API_KEY": "k"})), None),
        (
            "ungoverned, forged annotation",
            pod(container(), namespace="kube-system", annotations={"modelroute.io/x": "1"}),
            None,
        ),
    ],
)
def test_the_pod_a_decision_says_its_patch_produces_is_the_pod_the_patch_produces(
    case: str, subject: dict[str, Any], ctx: Any
) -> None:
    decision = judge(subject, ctx)
    assert decision.patch, case
    patched = jsonpatch.apply_patch(copy.deepcopy(subject), decision.patch)
    assert decision.produced is not None
    assert decision.produced["metadata"] == patched["metadata"]
    assert decision.produced["spec"] == patched["spec"]
    # and the validating judgement of that pod, from what the mutating one read, is the judgement of the pod
    if decision.outcome not in (Outcome.UNGOVERNED, Outcome.EXCLUDED):
        assert evaluate_produced(decision) == evaluate(patched, ctx or context(), mutate=False)
