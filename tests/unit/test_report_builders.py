"""The audit as policy reports: which API is written, one report per workload, and each result's rule,
category, severity and counts. The e2e suite proves the same reports against the published CRDs."""

from __future__ import annotations

from typing import Any

import pytest
from builders import container, context, endpoint, pod, policy

from modelroute.api.annotations import MANAGED_BY
from modelroute.api.kinds import OPENREPORTS, REPORT_APIS, WGPOLICYK8S, ReportAPI
from modelroute.engine.audit import audit
from modelroute.engine.reports import (
    MAX_NAME,
    RULE_OF_CODE,
    RULES,
    ReportChoice,
    choose,
    endpoint_reports,
    same_report,
    summary,
    workload_of,
    workload_reports,
)
from modelroute.engine.verdict import Code

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
UNMANAGED = {"OPENAI_API_KEY": "x"}


def named(body: dict[str, Any], name: str, *owners: dict[str, Any], **labels: str) -> dict[str, Any]:
    body["metadata"].update(name=name, uid=f"uid-{name}")
    body["metadata"]["labels"].update(labels)
    if owners:
        body["metadata"]["ownerReferences"] = list(owners)
    return body


def owner(kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}


def replica(name: str, env: dict[str, str] | None = None, template_hash: str = "5d8f7c") -> dict[str, Any]:
    """A pod of Deployment `chat-api`, through its ReplicaSet."""
    replica_set = owner("ReplicaSet", f"chat-api-{template_hash}")
    return named(pod(container(env=env)), name, replica_set, **{"pod-template-hash": template_hash})


def reports_of(*pods: dict[str, Any], api: ReportAPI = OPENREPORTS, ctx: Any = None) -> dict[Any, dict[str, Any]]:
    return workload_reports(audit(pods, ctx or context()), api, seconds=1_700_000_000)


def results_by_rule(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for result in report["results"]:
        out.setdefault(result["rule"], []).append(result)
    return out


# --- which API --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "served", "expected"),
    [
        (ReportChoice.AUTO, {OPENREPORTS, WGPOLICYK8S}, OPENREPORTS),
        (ReportChoice.AUTO, {WGPOLICYK8S}, WGPOLICYK8S),
        (ReportChoice.AUTO, {OPENREPORTS}, OPENREPORTS),
        (ReportChoice.AUTO, set(), None),
        (ReportChoice.WGPOLICYK8S, {OPENREPORTS, WGPOLICYK8S}, WGPOLICYK8S),
        (ReportChoice.OPENREPORTS, {WGPOLICYK8S}, None),
        (ReportChoice.NONE, {OPENREPORTS, WGPOLICYK8S}, None),
    ],
)
def test_the_report_api_is_the_first_served_one_the_choice_allows(
    choice: ReportChoice, served: set[ReportAPI], expected: ReportAPI | None
) -> None:
    assert choose(choice, lambda api: api in served) is expected


def test_each_report_api_is_declared_once_with_its_kinds() -> None:
    assert [(api.name, api.group, api.version) for api in REPORT_APIS] == [
        ("openreports", "openreports.io", "v1alpha1"),
        ("wgpolicyk8s", "wgpolicyk8s.io", "v1alpha2"),
    ]
    assert [(k.kind, k.plural, k.namespaced) for api in REPORT_APIS for k in api.kinds] == [
        ("Report", "reports", True),
        ("ClusterReport", "clusterreports", False),
        ("PolicyReport", "policyreports", True),
        ("ClusterPolicyReport", "clusterpolicyreports", False),
    ]


# --- scoping: one report per workload -----------------------------------------------------------------------


def test_pods_of_a_deployment_share_one_report_scoped_to_the_deployment() -> None:
    reports = reports_of(replica("chat-api-5d8f7c-a"), replica("chat-api-5d8f7c-b"))
    ((key, report),) = reports.items()
    assert key == ("apps", "modelroute-deployment-chat-api")
    assert report["scope"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat-api", "namespace": "apps"}


def test_a_deployment_report_is_owned_by_the_replica_sets_its_pods_name() -> None:
    reports = reports_of(
        replica("chat-api-old-a", template_hash="old1"), replica("chat-api-new-a", template_hash="new2")
    )
    (report,) = reports.values()
    owners = report["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"], o["uid"]) for o in owners] == [
        ("ReplicaSet", "chat-api-new2", "uid-chat-api-new2"),
        ("ReplicaSet", "chat-api-old1", "uid-chat-api-old1"),
    ]
    assert all("controller" not in o and "blockOwnerDeletion" not in o for o in owners)


def test_a_statefulset_pod_is_reported_under_its_statefulset_with_its_uid() -> None:
    scope, owned_by = workload_of(named(pod(), "db-0", owner("StatefulSet", "db")), "apps")
    assert (scope.kind, scope.name, scope.uid, scope.report_name) == (
        "StatefulSet",
        "db",
        "uid-db",
        "modelroute-statefulset-db",
    )
    assert owned_by == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "uid-db"}


def test_a_replica_set_without_the_template_hash_is_its_own_workload() -> None:
    scope, _ = workload_of(named(pod(), "rs-x", owner("ReplicaSet", "standalone-abc")), "apps")
    assert (scope.kind, scope.name, scope.uid) == ("ReplicaSet", "standalone-abc", "uid-standalone-abc")


def test_a_pod_nothing_controls_is_its_own_workload_and_owns_its_report() -> None:
    ((key, report),) = reports_of(named(pod(), "lonely")).items()
    assert key == ("apps", "modelroute-pod-lonely")
    assert report["scope"]["uid"] == "uid-lonely"
    assert report["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "lonely", "uid": "uid-lonely"}
    ]


def test_a_very_long_workload_name_still_gives_a_valid_unique_report_name() -> None:
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    name_a = workload_of(named(pod(), long_a), "apps")[0].report_name
    name_b = workload_of(named(pod(), long_b), "apps")[0].report_name
    assert len(name_a) <= MAX_NAME
    assert len(name_b) <= MAX_NAME
    assert name_a != name_b


def test_every_report_carries_the_managed_by_label() -> None:
    (report,) = reports_of(named(pod(), "p1")).values()
    assert report["metadata"]["labels"] == MANAGED_BY


# --- results: rule, category, severity, counts --------------------------------------------------------------


def test_every_violation_code_belongs_to_exactly_one_rule() -> None:
    assert set(RULE_OF_CODE) == set(Code)
    assert sum(len(rule.codes) for rule in RULES) == len(Code)


def test_a_compliant_workload_passes_every_rule_with_its_category_and_severity() -> None:
    (report,) = reports_of(replica("chat-api-5d8f7c-a")).values()
    assert [(r["rule"], r["result"], r["category"], r["severity"]) for r in report["results"]] == [
        ("approved-route", "pass", "Approved routes", "high"),
        ("declared-workload", "pass", "Workload declaration", "medium"),
        ("procurement", "pass", "Procurement", "medium"),
        ("visible-configuration", "pass", "Configuration visibility", "low"),
    ]
    assert report["summary"] == {"pass": 4, "fail": 0, "warn": 0, "error": 0, "skip": 0}


def test_a_violation_fails_its_rule_with_the_code_and_the_other_rules_pass() -> None:
    (report,) = reports_of(replica("chat-api-5d8f7c-a", env=DIRECT)).values()
    rules = results_by_rule(report)
    (failed,) = rules["approved-route"]
    assert (failed["result"], failed["severity"]) == ("fail", "high")
    assert failed["message"].startswith("[EndpointNotApproved] ")
    assert [r["result"] for r in rules["procurement"]] == ["pass"]
    assert report["summary"] == {"pass": 3, "fail": 1, "warn": 0, "error": 0, "skip": 0}


def test_under_a_warn_policy_a_violation_is_a_warning() -> None:
    ctx = context(policies=[policy(enforcement="Warn")])
    (report,) = reports_of(replica("chat-api-5d8f7c-a", env=DIRECT), ctx=ctx).values()
    assert [r["result"] for r in results_by_rule(report)["approved-route"]] == ["warn"]
    assert report["summary"]["warn"] == 1


def test_an_undeclared_pod_warns_on_declaration_and_skips_procurement() -> None:
    ctx = context(policies=[policy(unmanaged="Warn")])
    stray = named(pod(container(env=UNMANAGED), app="stray"), "stray")
    (report,) = reports_of(stray, ctx=ctx).values()
    rules = results_by_rule(report)
    assert [r["result"] for r in rules["declared-workload"]] == ["warn"]
    assert rules["declared-workload"][0]["message"].startswith("[UnmanagedOpenAITraffic] ")
    assert [r["result"] for r in rules["procurement"]] == ["skip"]
    assert report["summary"]["skip"] == 1


def test_pods_that_fare_alike_share_one_result_that_counts_and_names_them() -> None:
    pods = [replica(f"chat-api-5d8f7c-{i}") for i in range(7)]
    pods.append(replica("chat-api-5d8f7c-bad", env=DIRECT))
    (report,) = reports_of(*pods).values()
    rules = results_by_rule(report)
    passed, failed = sorted(rules["approved-route"], key=lambda r: r["result"] != "pass")
    assert (passed["properties"]["pods"], failed["properties"]["pods"]) == ("7", "1")
    assert (
        passed["properties"]["pod-names"]
        == "chat-api-5d8f7c-0, chat-api-5d8f7c-1, chat-api-5d8f7c-2, chat-api-5d8f7c-3, chat-api-5d8f7c-4 (+2 more)"
    )
    assert failed["properties"]["pod-names"] == "chat-api-5d8f7c-bad"
    assert report["summary"] == {"pass": 4 + 3, "fail": 1, "warn": 0, "error": 0, "skip": 0}


def test_a_result_carries_the_pods_procurement_annotations_as_properties() -> None:
    (report,) = reports_of(replica("chat-api-5d8f7c-a")).values()
    properties = report["results"][0]["properties"]
    assert properties["workload"] == "chat"
    assert properties["decision"] == "compliant"


def test_results_name_the_policy_and_source_policy_reporter_files_them_under() -> None:
    (report,) = reports_of(replica("chat-api-5d8f7c-a")).values()
    assert {(r["policy"], r["source"], r["scored"]) for r in report["results"]} == {("modelroute", "ModelRoute", True)}
    assert report["source"] == "ModelRoute"


def test_the_same_audit_is_written_in_either_api_and_only_openreports_has_a_report_source() -> None:
    pods = (replica("chat-api-5d8f7c-a"),)
    (openreport,) = reports_of(*pods, api=OPENREPORTS).values()
    (policy_report,) = reports_of(*pods, api=WGPOLICYK8S).values()
    assert (openreport["apiVersion"], openreport["kind"]) == ("openreports.io/v1alpha1", "Report")
    assert (policy_report["apiVersion"], policy_report["kind"]) == ("wgpolicyk8s.io/v1alpha2", "PolicyReport")
    assert "source" not in policy_report  # wgpolicyk8s.io v1alpha2 has no such field
    assert openreport["results"] == policy_report["results"]


def test_the_summary_counts_every_result_value() -> None:
    results = [{"result": r} for r in ("pass", "pass", "fail", "warn", "error", "skip")]
    assert summary(results) == {"pass": 2, "fail": 1, "warn": 1, "error": 1, "skip": 1}


def test_a_report_differing_only_in_timestamps_is_the_same_report() -> None:
    (report,) = reports_of(replica("chat-api-5d8f7c-a")).values()
    later = workload_reports(audit([replica("chat-api-5d8f7c-a")], context()), OPENREPORTS, seconds=1_800_000_000)
    (again,) = later.values()
    assert same_report(report, again)
    (scaled,) = reports_of(replica("chat-api-5d8f7c-a"), replica("chat-api-5d8f7c-b")).values()
    assert not same_report(report, scaled)


# --- cluster reports: one per AzureEndpoint ----------------------------------------------------------------


def endpoint_report(url: str, api: ReportAPI = OPENREPORTS, **spec: Any) -> dict[str, Any]:
    plain = endpoint("contoso", url=url, **spec)
    body = plain.model_copy(update={"metadata": plain.metadata.model_copy(update={"uid": "uid-contoso"})})
    ((name, report),) = endpoint_reports(context(endpoints=[body]).endpoints.values(), api, seconds=0).items()
    assert name == "modelroute-azureendpoint-contoso"
    return report


def test_an_approved_endpoint_passes_its_cluster_report_scoped_to_and_owned_by_it() -> None:
    report = endpoint_report("https://contoso-eastus.openai.azure.com")
    assert (report["apiVersion"], report["kind"]) == ("openreports.io/v1alpha1", "ClusterReport")
    assert "namespace" not in report["metadata"]
    assert report["scope"] == {
        "apiVersion": "modelroute.io/v1alpha1",
        "kind": "AzureEndpoint",
        "name": "contoso",
        "uid": "uid-contoso",
    }
    assert report["metadata"]["ownerReferences"][0]["uid"] == "uid-contoso"
    ((rule, result, category, severity),) = [
        (r["rule"], r["result"], r["category"], r["severity"]) for r in report["results"]
    ]
    assert (rule, result, category, severity) == ("approved-endpoint", "pass", "Approved endpoints", "high")
    assert report["results"][0]["properties"]["host"] == "contoso-eastus.openai.azure.com"
    assert report["summary"]["pass"] == 1


def test_an_endpoint_that_is_not_azure_fails_its_cluster_report_with_the_reason() -> None:
    report = endpoint_report("https://llm.example.com", api=WGPOLICYK8S)
    assert report["kind"] == "ClusterPolicyReport"
    (result,) = report["results"]
    assert result["result"] == "fail"
    assert result["message"].startswith("[HostNotAzure]")
    assert report["summary"] == {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0}
