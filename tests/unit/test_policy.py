"""RoutePolicy: enforcement, unmanaged pods, rewrite, statefulDirect, scope, and the strictest wins."""

from __future__ import annotations

import pytest
from builders import APPROVED_URL, codes, container, context, endpoint, env_of, judge, pod, policy, workload

from modelroute.api.v1alpha1 import Enforcement
from modelroute.engine.context import BUILT_IN_POLICY
from modelroute.engine.verdict import Outcome

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}


def test_enforce_denies_a_covered_pod_that_points_off_route() -> None:
    decision = judge(pod(container(env=DIRECT)))
    assert not decision.allowed
    assert decision.outcome is Outcome.DENIED
    assert codes(decision) == ["EndpointNotApproved"]
    assert "contoso-eastus.openai.azure.com" in decision.violations[0].message


def test_enforce_admits_a_covered_pod_on_its_endpoint() -> None:
    decision = judge(pod(container(env={"OPENAI_BASE_URL": APPROVED_URL + "/openai/v1"})))
    assert decision.allowed
    assert decision.outcome is Outcome.COMPLIANT


def test_warn_admits_with_one_warning_per_violation() -> None:
    decision = judge(pod(container(env=DIRECT)), context(policies=[policy(enforcement="Warn")]))
    assert decision.allowed
    assert decision.outcome is Outcome.WARNED
    assert any(w.startswith("[EndpointNotApproved]") for w in decision.warnings)


def test_audit_admits_silently_but_records_the_violations() -> None:
    decision = judge(pod(container(env=DIRECT)), context(policies=[policy(enforcement="Audit")]))
    assert decision.allowed
    assert decision.outcome is Outcome.AUDITED
    assert decision.warnings == ()
    assert codes(decision) == ["EndpointNotApproved"]
    assert decision.annotations["modelroute.io/decision"] == "audited"


@pytest.mark.parametrize(
    ("unmanaged", "allowed", "warned"), [("Deny", False, False), ("Warn", True, True), ("Allow", True, False)]
)
def test_unmanaged_openai_traffic(unmanaged: str, allowed: bool, warned: bool) -> None:
    p = pod(container(env={"OPENAI_BASE_URL": APPROVED_URL}), app="nobody-declared-me")
    decision = judge(p, context(policies=[policy(unmanaged=unmanaged)]))
    assert decision.allowed is allowed
    assert any("UnmanagedOpenAITraffic" in w for w in decision.warnings) is warned


def test_unmanaged_deny_is_softened_by_warn_enforcement() -> None:
    p = pod(container(env={"OPENAI_API_KEY": "k"}), app="nobody")
    decision = judge(p, context(policies=[policy(enforcement="Warn", unmanaged="Deny")]))
    assert decision.allowed
    assert "UnmanagedOpenAITraffic" in codes(decision)


def test_unmanaged_pods_must_still_use_an_approved_endpoint() -> None:
    p = pod(container(env=DIRECT), app="nobody")
    decision = judge(p, context(policies=[policy(unmanaged="Allow")]))
    assert codes(decision) == ["EndpointNotApproved"]


def test_two_workloads_selecting_one_pod_is_ambiguous_and_names_both() -> None:
    ctx = context(workloads=[workload("a"), workload("b")])
    decision = judge(pod(container()), ctx)
    assert codes(decision) == ["AmbiguousWorkload"]
    assert "a and b" in decision.violations[0].message


def test_rewrite_replaces_a_non_approved_endpoint_with_the_approved_route() -> None:
    p = pod(container(env=DIRECT))
    decision = judge(p, context(policies=[policy(rewrite=True)]))
    assert decision.allowed
    assert decision.outcome is Outcome.REWRITTEN
    assert env_of(decision, p)["OPENAI_BASE_URL"] == APPROVED_URL + "/openai/v1"


def test_rewrite_also_overrides_an_endpoint_that_came_from_a_config_map() -> None:
    c = container(envFrom=[{"configMapRef": {"name": "llm"}}])
    p = pod(c)
    ctx = context(
        policies=[policy(rewrite=True)], config_maps={("apps", "llm"): {"OPENAI_API_BASE": "https://x.example"}}
    )
    decision = judge(p, ctx)
    assert decision.outcome is Outcome.REWRITTEN
    assert env_of(decision, p)["OPENAI_API_BASE"] == APPROVED_URL + "/openai/v1"


def test_rewrite_cannot_fix_urls_in_arguments() -> None:
    p = pod(container(args=["--url=https://api.openai.com/v1"]))
    decision = judge(p, context(policies=[policy(rewrite=True)]))
    assert codes(decision) == ["EndpointNotApproved"]


def test_stateful_workloads_may_reach_openai_directly_by_default() -> None:
    ctx = context(workloads=[workload(endpoint_name=None, apiMode="Stateful")])
    decision = judge(pod(container(env={"OPENAI_API_KEY": "k"})), ctx)
    assert decision.allowed
    assert decision.annotations["modelroute.io/api-mode"] == "Stateful"


def test_stateful_direct_deny_refuses_direct_openai_traffic() -> None:
    ctx = context(
        workloads=[workload(endpoint_name=None, apiMode="Stateful")], policies=[policy(statefulDirect="Deny")]
    )
    assert codes(judge(pod(container(env={"OPENAI_API_KEY": "k"})), ctx)) == ["StatefulDirectDenied"]


def test_the_strictest_of_several_policies_wins() -> None:
    ctx = context(
        policies=[
            policy("lax", enforcement="Audit", rewrite=True),
            policy("strict", enforcement="Enforce", rewrite=False),
        ]
    )
    decision = judge(pod(container(env=DIRECT)), ctx)
    assert not decision.allowed
    assert ctx.policy_for("apps") is not None
    assert ctx.policy_for("apps").sources == ("lax", "strict")  # type: ignore[union-attr]


def test_policies_govern_only_the_namespaces_they_select_the_others_get_the_built_in_default() -> None:
    ctx = context(
        policies=[policy(namespaceSelector={"matchLabels": {"env": "prod"}})], namespace_labels={"apps": {"env": "dev"}}
    )
    decision = judge(pod(container(env=DIRECT)), ctx)
    assert decision.allowed
    assert decision.outcome is Outcome.WARNED
    assert ctx.policy_for("apps") == BUILT_IN_POLICY


def test_namespace_selectors_see_the_automatic_name_label() -> None:
    ctx = context(policies=[policy(namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "apps"}})])
    assert not judge(pod(container(env=DIRECT)), ctx).allowed


def test_excluded_namespaces_are_never_governed() -> None:
    ctx = context(policies=[policy(excludedNamespaces=["apps"])])
    assert judge(pod(container(env=DIRECT)), ctx).allowed


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease", "modelroute-system"])
def test_system_and_operator_namespaces_are_always_excluded(namespace: str) -> None:
    decision = judge(pod(container(env=DIRECT), namespace=namespace))
    assert decision.allowed
    assert decision.outcome is Outcome.EXCLUDED
    assert decision.patch == []


def test_a_namespace_labelled_to_opt_out_is_excluded_as_the_webhooks_exclude_it() -> None:
    ctx = context(namespace_labels={"apps": {"modelroute.io/ignore": "true"}})
    assert judge(pod(container(env=DIRECT)), ctx).outcome is Outcome.EXCLUDED


def test_with_no_route_policy_the_built_in_default_warns() -> None:
    ctx = context(policies=[])
    decision = judge(pod(container(env=DIRECT)), ctx)
    assert decision.allowed
    assert decision.enforcement is Enforcement.WARN
    assert ctx.policy_for("apps") == BUILT_IN_POLICY


def test_a_missing_endpoint_is_a_violation() -> None:
    ctx = context(endpoints=[])
    assert codes(judge(pod(container()), ctx)) == ["EndpointNotFound"]


def test_an_endpoint_that_is_not_ready_is_a_violation_with_its_reason() -> None:
    ctx = context(endpoints=[endpoint(url="https://llm.example.com")])
    decision = judge(pod(container()), ctx)
    assert codes(decision) == ["EndpointNotReady"]
    assert "HostNotAzure" in decision.violations[0].message


def test_a_channel_the_endpoint_does_not_admit_is_a_violation() -> None:
    ctx = context(endpoints=[endpoint(channels=["Microsoft"])], workloads=[workload(channel="OpenAI")])
    assert codes(judge(pod(container()), ctx)) == ["ChannelNotAllowed"]


def test_an_openai_type_endpoint_admits_only_the_openai_channel() -> None:
    ctx = context(
        endpoints=[endpoint(url="https://eu.api.openai.com", type="OpenAI")], workloads=[workload(channel="Microsoft")]
    )
    assert codes(judge(pod(container()), ctx)) == ["ChannelNotAllowed"]


def test_a_deployment_the_endpoint_does_not_list_is_a_violation() -> None:
    ctx = context(endpoints=[endpoint(deployments=[{"name": "gpt-4o"}])], workloads=[workload(deployment="o3")])
    assert codes(judge(pod(container()), ctx)) == ["DeploymentNotAllowed"]


def test_a_deployment_named_in_the_url_path_must_be_allowed() -> None:
    ctx = context(endpoints=[endpoint(deployments=[{"name": "gpt-4o"}])])
    url = APPROVED_URL + "/openai/deployments/o3/chat/completions?api-version=2024-10-21"
    assert codes(judge(pod(container(env={"OPENAI_BASE_URL": url})), ctx)) == ["DeploymentNotAllowed"]


def test_an_endpoint_limited_to_some_namespaces_refuses_others() -> None:
    ctx = context(endpoints=[endpoint(namespaceSelector={"matchLabels": {"team": "ai"}})])
    assert codes(judge(pod(container()), ctx)) == ["NamespaceNotAllowed"]
