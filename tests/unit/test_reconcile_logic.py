"""The pure parts of the reconcilers: status, leader lease, egress policies and audit (reports: test_reports)."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest
from builders import APPROVED_HOST, container, context, endpoint, pod, policy, workload

from modelroute.admission import configurations as cfg
from modelroute.admission.resources import validate_resource
from modelroute.admission.review import mutate, validate
from modelroute.api import kinds
from modelroute.cli.report import inventory, render
from modelroute.controllers.leader import LeaseTerms, decide
from modelroute.engine import egress
from modelroute.engine.audit import audit
from modelroute.engine.context import endpoint_state
from modelroute.engine.podspec import POD_TEMPLATE_PATHS
from modelroute.engine.status import (
    azure_endpoint_status,
    differs_ignoring_times,
    model_workload_status,
    route_policy_status,
    with_transition_times,
)

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}

# --- status -----------------------------------------------------------------------------------------


def test_endpoint_status_counts_the_workloads_that_use_it() -> None:
    status = azure_endpoint_status(endpoint(), context(workloads=[workload("a"), workload("b", app="b")]))
    assert status["workloads"] == 2
    assert status["host"] == APPROVED_HOST
    assert status["conditions"][0]["reason"] == "Approved"


def test_workload_status_names_the_first_problem_as_its_reason() -> None:
    status = model_workload_status(workload(), context(endpoints=[]))
    condition = status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "EndpointNotFound")


def test_policy_status_counts_the_namespaces_it_governs() -> None:
    ctx = context(
        policies=[policy("p", namespaceSelector={"matchLabels": {"env": "prod"}})],
        namespace_labels={"a": {"env": "prod"}, "b": {"env": "dev"}},
    )
    assert route_policy_status(policy("p"), ctx, ["a", "b"])["governedNamespaces"] == 1


def test_a_condition_keeps_its_transition_time_until_its_status_flips() -> None:
    current = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Routed",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }
    same = {"conditions": [{"type": "Ready", "status": "True", "reason": "Routed", "message": "x"}]}
    flipped = {"conditions": [{"type": "Ready", "status": "False", "reason": "EndpointNotFound", "message": ""}]}
    assert with_transition_times(same, current, "NOW")["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert with_transition_times(flipped, current, "NOW")["conditions"][0]["lastTransitionTime"] == "NOW"


def test_an_unchanged_status_needs_no_patch() -> None:
    desired = {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "R", "message": ""}],
    }
    current = {**desired, "conditions": [{**desired["conditions"][0], "lastTransitionTime": "T"}]}
    assert not differs_ignoring_times(desired, current)
    assert differs_ignoring_times({**desired, "observedGeneration": 2}, current)


# --- leader lease -------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.UTC)
TERMS = LeaseTerms(namespace="ns")


def _stamp(seconds_ago: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_free_lease_is_taken() -> None:
    spec = decide(None, "me", NOW, TERMS)
    assert spec is not None
    assert spec["holderIdentity"] == "me"


def test_a_live_lease_of_another_holder_is_respected() -> None:
    held = {"holderIdentity": "other", "renewTime": _stamp(3), "leaseDurationSeconds": 15}
    assert decide(held, "me", NOW, TERMS) is None


def test_an_expired_lease_is_taken_over_and_counted() -> None:
    held = {"holderIdentity": "other", "renewTime": _stamp(60), "leaseDurationSeconds": 15, "leaseTransitions": 2}
    spec = decide(held, "me", NOW, TERMS)
    assert spec is not None
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("me", 3)


def test_the_holder_renews_its_own_lease() -> None:
    held = {"holderIdentity": "me", "renewTime": _stamp(5), "acquireTime": _stamp(100), "leaseDurationSeconds": 15}
    spec = decide(held, "me", NOW, TERMS)
    assert spec is not None
    assert spec["acquireTime"] == held["acquireTime"]
    assert spec["renewTime"] == _stamp(0)


# --- egress ---------------------------------------------------------------------------------------------


def _restricted(**egress_spec: object) -> tuple[object, object]:
    w = workload(egress={"restrict": True})
    e = endpoint_state(endpoint(egress=egress_spec) if egress_spec else endpoint())
    return w, e


def test_the_network_policy_allows_dns_and_the_endpoint_cidrs_on_its_port() -> None:
    w, e = _restricted(cidrs=["10.0.0.0/24"])
    body, gaps = egress.network_policy(w, e)  # type: ignore[arg-type]
    assert gaps == []
    assert body["spec"]["egress"][1] == {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert body["metadata"]["ownerReferences"][0]["kind"] == "ModelWorkload"


def test_an_in_cluster_proxy_is_allowed_by_namespace() -> None:
    w, e = _restricted(proxy="http://squid.egress.svc.cluster.local:3128")
    body, _ = egress.network_policy(w, e)  # type: ignore[arg-type]
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "egress"}}}],
        "ports": [{"protocol": "TCP", "port": 3128}],
    } in body["spec"]["egress"]


def test_what_a_network_policy_cannot_express_is_said() -> None:
    w, e = _restricted(proxy="http://proxy.corp.example:3128")
    _, gaps = egress.network_policy(w, e)  # type: ignore[arg-type]
    assert any("host name outside the cluster" in g for g in gaps)


def test_the_cilium_policy_names_the_endpoint_host() -> None:
    w, e = _restricted()
    body = egress.cilium_network_policy(w, e)  # type: ignore[arg-type]
    assert {
        "toFQDNs": [{"matchName": APPROVED_HOST}],
        "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
    } in body["spec"]["egress"]


# --- audit and reports --------------------------------------------------------------------------------


def test_the_audit_judges_running_pods_as_they_are() -> None:
    result = audit([pod(container()), pod(container(env=DIRECT))], context())
    assert result.pod_counts("apps", "chat") == {"matched": 2, "compliant": 1, "violating": 1}


def test_finished_pods_are_not_audited() -> None:
    finished = {**pod(container(env=DIRECT)), "status": {"phase": "Succeeded"}}
    assert audit([finished], context()).findings == []


def test_the_inventory_renders_as_csv_json_and_markdown() -> None:
    ctx = context()
    rows = inventory([workload()], ctx, [pod(container())], as_admitted=True)
    out = io.StringIO()
    render(rows, "csv", out)
    (record,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (record["workload"], record["pods"], record["compliance"]) == ("chat", "1", "compliant")
    out = io.StringIO()
    render(rows, "json", out)
    assert json.loads(out.getvalue())["workloads"][0]["endpoint_host"] == APPROVED_HOST
    out = io.StringIO()
    render(rows, "markdown", out)
    assert out.getvalue().startswith("| NAMESPACE | WORKLOAD |")


# --- admission shells -----------------------------------------------------------------------------------


def test_the_mutating_webhook_never_denies() -> None:
    assert mutate(pod(container(env=DIRECT)), context()).allowed


def test_the_validating_webhook_denies_with_every_violation() -> None:
    answer = validate(pod(container(env=DIRECT), app="nobody"), context())
    assert not answer.allowed
    assert "[EndpointNotApproved]" in answer.message
    assert "[UnmanagedOpenAITraffic]" in answer.message


def test_an_unreadable_object_is_denied_with_where_it_is_wrong() -> None:
    answer = validate({"kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": 3}}, context())
    assert not answer.allowed
    assert "spec.containers must be a list" in answer.message


def test_own_kinds_are_denied_for_what_the_models_reject() -> None:
    body = endpoint().to_wire()
    body["spec"]["egress"] = {"cidrs": ["nope"]}
    answer = validate_resource(body, "CREATE", context())
    assert not answer.allowed
    assert "not a CIDR" in answer.message


def test_deleting_an_endpoint_in_use_warns() -> None:
    answer = validate_resource(endpoint("contoso").to_wire(), "DELETE", context())
    assert answer.allowed
    assert "still referenced by ModelWorkload(s) apps/chat" in answer.warnings[0]


def test_two_workloads_with_the_same_selector_earn_a_warning() -> None:
    answer = validate_resource(workload("twin").to_wire(), "CREATE", context())
    assert any("same selector" in w for w in answer.warnings)


# --- webhook configurations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook_name",
    [
        "pods.mutate.modelroute.io",
        "pods.validate.modelroute.io",
        "controllers.validate.modelroute.io",
        "configmaps.validate.modelroute.io",
    ],
)
def test_webhooks_never_cover_system_namespaces_or_the_operators_own(hook_name: str) -> None:
    options = cfg.WebhookOptions(operator_namespace="mr")
    hooks = [
        *cfg.mutating_configuration(lambda p: {"url": p}, options)["webhooks"],
        *cfg.validating_configuration(lambda p: {"url": p}, options)["webhooks"],
    ]
    hook = next(h for h in hooks if h["name"] == hook_name)
    excluded = hook["namespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn"
    assert {"kube-system", "kube-public", "kube-node-lease", "mr"} <= set(excluded["values"])
    assert hook["sideEffects"] == "None"


def test_the_own_kinds_webhook_fails_open() -> None:
    options = cfg.WebhookOptions(operator_namespace="mr")
    hooks = cfg.validating_configuration(lambda p: {"url": p}, options)["webhooks"]
    own = next(h for h in hooks if h["name"] == "resources.validate.modelroute.io")
    assert own["failurePolicy"] == "Ignore"


def test_the_controller_webhook_sees_every_kind_check_judges_as_a_pod_template() -> None:
    # `modelroute check` and admission must never disagree: a kind check judges is a kind the API
    # server sends to the controller webhook (a ReplicationController still creates pods)
    options = cfg.WebhookOptions(operator_namespace="mr")
    hooks = cfg.validating_configuration(lambda p: {"url": p}, options)["webhooks"]
    controllers = next(h for h in hooks if h["name"] == "controllers.validate.modelroute.io")
    registered = {
        (group, resource)
        for rule in controllers["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    judged = {(k.group, k.plural) for k in kinds.POD_KINDS if k.kind != "Pod"}
    assert ("", "replicationcontrollers") in judged
    assert registered == judged
    assert set(POD_TEMPLATE_PATHS) == {k.kind for k in kinds.POD_KINDS}
