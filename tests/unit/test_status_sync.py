"""The status reconciler against an in-memory API client: which statuses it writes, when it writes
nothing, the egress policies it owns and the policy reports it keeps."""

from __future__ import annotations

import copy
from typing import Any

from tests.bench import world

from modelroute.api.annotations import MANAGED_BY
from modelroute.cluster import MemoryKube
from modelroute.cluster.state import ClusterState
from modelroute.controllers.status_sync import CILIUM_CRD, StatusSync
from modelroute.engine.reports import ReportChoice

OPENREPORTS_CRD = "reports.openreports.io"
POLICY_REPORT_CRD = "policyreports.wgpolicyk8s.io"


def primed(*, restrict: bool = False) -> ClusterState:
    state = ClusterState(operator_namespace="modelroute-system")
    bodies = world.cluster_bodies(2, 1)
    if restrict:
        bodies["azureendpoints"][0]["spec"]["egress"] = {"cidrs": ["10.1.0.0/24"]}
        bodies["modelworkloads"][0]["spec"]["egress"] = {"restrict": True}
    for plural, items in bodies.items():
        state.replace_all(plural, items)
    state.replace_all("pods", [world.pod("team-00", "app-0", {"OPENAI_API_KEY": "x"}, name=f"p{i}") for i in range(3)])
    return state


def sync_for(state: ClusterState, kube: MemoryKube, choice: ReportChoice = ReportChoice.AUTO) -> StatusSync:
    return StatusSync(state, kube, clock=lambda: "2026-12-01T00:00:00Z", report_choice=choice)


def reports(kube: MemoryKube, plural: str) -> set[tuple[str, str]]:
    return {(namespace, name) for (p, namespace, name) in kube.objects if p == plural}


def echo(state: ClusterState, kube: MemoryKube) -> None:
    """What the watch would deliver after the writes: each object with the status that was written."""
    for (plural, namespace, name), status in kube.statuses.items():
        body = copy.deepcopy(state.raw[plural][(namespace, name)])
        body["status"] = status
        state.upsert(plural, body)


def test_every_resource_gets_a_ready_condition_with_its_generation() -> None:
    state, kube = primed(), MemoryKube()
    sync_for(state, kube).sync_once()
    assert set(kube.statuses) == {
        ("azureendpoints", "", "contoso"),
        ("modelworkloads", "team-00", "model-0"),
        ("modelworkloads", "team-00", "model-1"),
        ("routepolicies", "", "strict"),
    }
    for status in kube.statuses.values():
        (condition,) = status["conditions"]
        assert (condition["type"], condition["status"], condition["observedGeneration"]) == ("Ready", "True", 1)
        assert condition["lastTransitionTime"] == "2026-12-01T00:00:00Z"


def test_a_workload_status_carries_the_audit_pod_counts() -> None:
    state, kube = primed(), MemoryKube()
    sync_for(state, kube).sync_once()
    assert kube.statuses[("modelworkloads", "team-00", "model-0")]["pods"] == {
        "matched": 3,
        "compliant": 0,
        "violating": 3,
    }
    assert kube.statuses[("modelworkloads", "team-00", "model-1")]["pods"]["matched"] == 0


def test_a_second_pass_over_the_same_cluster_writes_nothing() -> None:
    state, kube = primed(), MemoryKube()
    sync = sync_for(state, kube)
    sync.sync_once()
    echo(state, kube)
    kube.calls.clear()
    assert sync.sync_once() == 0
    assert "patch_status" not in kube.calls


def test_an_invalid_spec_is_reported_as_not_ready_with_the_reason() -> None:
    state, kube = primed(), MemoryKube()
    body = copy.deepcopy(state.raw["modelworkloads"][("team-00", "model-1")])
    del body["spec"]["procurement"]
    state.upsert("modelworkloads", body)
    sync_for(state, kube).sync_once()
    status = kube.statuses[("modelworkloads", "team-00", "model-1")]
    assert (status["conditions"][0]["status"], status["conditions"][0]["reason"]) == ("False", "InvalidSpec")
    assert "procurement" in status["conditions"][0]["message"]
    assert status["endpointHost"] is None


def test_a_restricted_workload_gets_an_owned_network_policy() -> None:
    state, kube = primed(restrict=True), MemoryKube()
    sync_for(state, kube).sync_once()
    ((key, body),) = [(k, b) for k, b in kube.objects.items() if k[0] == "networkpolicies"]
    assert key == ("networkpolicies", "team-00", "modelroute-egress-model-0")
    assert MANAGED_BY.items() <= body["metadata"]["labels"].items()


def test_an_owned_network_policy_no_workload_wants_is_removed() -> None:
    state, kube = primed(), MemoryKube()
    stale = {"metadata": {"name": "modelroute-egress-gone", "namespace": "team-00", "labels": dict(MANAGED_BY)}}
    kube.objects[("networkpolicies", "team-00", "modelroute-egress-gone")] = stale
    someone_elses: dict[str, Any] = {"metadata": {"name": "theirs", "namespace": "team-00", "labels": {}}}
    kube.objects[("networkpolicies", "team-00", "theirs")] = someone_elses
    sync_for(state, kube).sync_once()
    assert ("networkpolicies", "team-00", "modelroute-egress-gone") not in kube.objects
    assert ("networkpolicies", "team-00", "theirs") in kube.objects


def test_cilium_policies_only_where_the_crd_exists_and_the_grant_allows() -> None:
    for crds, forbidden, expected in (
        ((), (), 0),
        ((CILIUM_CRD,), ("ciliumnetworkpolicies",), 0),
        ((CILIUM_CRD,), (), 1),
    ):
        state, kube = primed(restrict=True), MemoryKube(crds=crds, forbidden=forbidden)
        sync_for(state, kube).sync_once()
        assert sum(1 for k in kube.objects if k[0] == "ciliumnetworkpolicies") == expected


def test_policy_reports_are_written_once_and_not_rewritten_for_a_new_timestamp() -> None:
    state, kube = primed(), MemoryKube(crds=(POLICY_REPORT_CRD,))
    sync = sync_for(state, kube)
    sync.sync_once()
    report = kube.objects[("policyreports", "team-00", "modelroute-pod-p0")]
    assert {r["result"] for r in report["results"] if r["rule"] == "approved-route"} == {"fail"}
    kube.calls.clear()
    sync.sync_once()
    assert "upsert policyreports" not in kube.calls


def test_where_both_apis_are_served_auto_writes_openreports_and_removes_its_policy_reports() -> None:
    state, kube = primed(), MemoryKube(crds=(POLICY_REPORT_CRD,))
    sync = sync_for(state, kube)
    sync.sync_once()
    assert reports(kube, "policyreports") == {("team-00", f"modelroute-pod-p{i}") for i in range(3)}
    kube.crds.add(OPENREPORTS_CRD)  # OpenReports installed later: the reports move
    sync.sync_once()
    assert reports(kube, "reports") == {("team-00", f"modelroute-pod-p{i}") for i in range(3)}
    assert reports(kube, "policyreports") == set()


def test_a_fixed_choice_writes_only_its_api_and_leaves_the_other_alone() -> None:
    state, kube = primed(), MemoryKube(crds=(POLICY_REPORT_CRD, OPENREPORTS_CRD))
    theirs = {"metadata": {"name": "kyverno-x", "namespace": "team-00", "labels": dict(MANAGED_BY)}}
    kube.objects[("reports", "team-00", "kyverno-x")] = theirs  # not ours to clean up under this choice
    sync_for(state, kube, ReportChoice.WGPOLICYK8S).sync_once()
    assert len(reports(kube, "policyreports")) == 3
    assert reports(kube, "reports") == {("team-00", "kyverno-x")}
    assert "list reports" not in kube.calls


def test_no_reports_without_a_served_api_the_grant_or_with_the_choice_none() -> None:
    for crds, forbidden, choice in (
        ((), (), ReportChoice.AUTO),
        ((OPENREPORTS_CRD,), ("reports",), ReportChoice.AUTO),
        ((OPENREPORTS_CRD, POLICY_REPORT_CRD), (), ReportChoice.NONE),
    ):
        state, kube = primed(), MemoryKube(crds=crds, forbidden=forbidden)
        sync_for(state, kube, choice).sync_once()
        assert not reports(kube, "reports") | reports(kube, "policyreports")
        assert not [c for c in kube.calls if "reports" in c]


def test_a_report_whose_workload_has_no_audited_pod_left_is_deleted() -> None:
    state, kube = primed(), MemoryKube(crds=(OPENREPORTS_CRD,))
    sync = sync_for(state, kube)
    sync.sync_once()
    state.replace_all("pods", [])
    sync.sync_once()
    assert reports(kube, "reports") == set()


def test_where_the_cluster_kind_is_served_every_endpoint_gets_a_cluster_report() -> None:
    state, kube = primed(), MemoryKube(crds=(OPENREPORTS_CRD, "clusterreports.openreports.io"))
    sync = sync_for(state, kube)
    sync.sync_once()
    assert reports(kube, "clusterreports") == {("", "modelroute-azureendpoint-contoso")}
    kube.calls.clear()
    sync.sync_once()
    assert "apply clusterreports" not in kube.calls  # unchanged: not written again
