"""The audit's policy reports against the CRDs their publishers ship (vendored in fixtures/report-crds with
their source and version): every report ModelRoute builds is accepted by openreports.io and wgpolicyk8s.io
with strict field validation (nothing pruned, every enum value known), and the operator writes one report
per workload, in wgpolicyk8s.io while only that is served and in openreports.io once it is."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from kube import pod
from report_crds import install, managed, uninstall
from test_operator import deployment, endpoint, policy, wait_ready, workload
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import OperatorProcess

from modelroute.api.kinds import OPENREPORTS, REPORT_APIS, WGPOLICYK8S, Kind, ReportAPI
from modelroute.api.v1alpha1 import AzureEndpoint, ModelWorkload, RoutePolicy
from modelroute.engine.audit import audit
from modelroute.engine.context import PolicyContext
from modelroute.engine.reports import endpoint_reports, workload_reports
from modelroute.engine.verdict import Code

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}


def by_hand(body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    """A built report written by the test: without its owners (made-up uids, which the garbage collector would
    act on) and without ModelRoute's label (the running operator removes labelled reports it did not build)."""
    out = copy.deepcopy(body)
    out["metadata"].pop("ownerReferences", None)
    out["metadata"]["labels"] = {"e2e": "by-hand"}
    if namespace is not None:
        out["metadata"]["namespace"] = namespace
        out["scope"]["namespace"] = namespace
    return out


def stored(cluster: ClusterClient, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
    where = ("-n", namespace) if namespace else ()
    return get(cluster, f"{kind.plural}.{kind.group}", name, *where)


@pytest.fixture
def report_crds(cluster: ClusterClient) -> None:
    for api in REPORT_APIS:
        install(cluster, api)


def sample_pods() -> list[dict[str, Any]]:
    """A Deployment's two replicas (one pinned to api.openai.com), a StatefulSet pod, and an undeclared pod."""

    def named(body: dict[str, Any], name: str, owner: tuple[str, str] | None = None, **labels: str) -> dict[str, Any]:
        body["metadata"].update(name=name, uid=f"uid-{name}")
        body["metadata"]["labels"].update(labels)
        if owner:
            ref = {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}"}
            body["metadata"]["ownerReferences"] = [{**ref, "controller": True}]
        return body

    return [
        named(
            pod("chat-api-7c9d-a", "apps"),
            "chat-api-7c9d-a",
            ("ReplicaSet", "chat-api-7c9d"),
            **{"pod-template-hash": "7c9d"},
        ),
        named(
            pod("chat-api-7c9d-b", "apps", env=DIRECT),
            "chat-api-7c9d-b",
            ("ReplicaSet", "chat-api-7c9d"),
            **{"pod-template-hash": "7c9d"},
        ),
        named(pod("db-0", "apps"), "db-0", ("StatefulSet", "db")),
        named(pod("stray", "apps", app="stray", env={"OPENAI_API_KEY": "x"}), "stray"),
    ]


def sample_context() -> PolicyContext:
    """An approved endpoint, a workload for app=chat, and a policy that warns (so the violations are admitted)."""
    warn = {"apiVersion": "modelroute.io/v1alpha1", "kind": "RoutePolicy", "metadata": {"name": "warn"}}
    return PolicyContext.build(
        endpoints=[AzureEndpoint.model_validate(endpoint("contoso"))],
        workloads=[ModelWorkload.model_validate(workload("chat", "apps", "contoso"))],
        policies=[RoutePolicy.model_validate({**warn, "spec": {"enforcement": "Warn", "unmanaged": "Warn"}})],
        operator_namespace="modelroute-system",
    )


@pytest.mark.parametrize("api", REPORT_APIS, ids=[api.name for api in REPORT_APIS])
def test_every_built_report_is_accepted_strictly_by_the_published_crd_and_stored_whole(
    cluster: ClusterClient, report_crds: None, namespace: str, api: ReportAPI
) -> None:
    context = sample_context()
    built = workload_reports(audit(sample_pods(), context), api, seconds=1_700_000_000)
    values = {r["result"] for body in built.values() for r in body["results"]}
    assert values == {"pass", "warn", "skip"}  # the sample reaches every value the audit writes but fail
    (cluster_report,) = endpoint_reports(context.endpoints.values(), api, seconds=1_700_000_000).values()
    cluster_report["metadata"]["name"] = f"{namespace}-{api.name}"  # one per test run: cluster-scoped
    bodies = [by_hand(body, namespace) for body in built.values()] + [by_hand(cluster_report)]
    created = cluster.kubectl("create", "--validate=strict", "-f", "-", input=yaml.safe_dump_all(bodies), check=False)
    assert created.returncode == 0, created.stderr  # strict: an unknown field is refused, not pruned
    try:
        assert {b["metadata"]["name"] for b in bodies[:-1]} == {
            "modelroute-deployment-chat-api",
            "modelroute-statefulset-db",
            "modelroute-pod-stray",
        }
        for body in bodies:
            namespaced = "namespace" in body["metadata"]
            kind = api.namespaced if namespaced else api.cluster
            kept = stored(cluster, kind, body["metadata"]["name"], namespace if namespaced else None)
            assert kept["kind"] == kind.kind
            assert {k: kept.get(k) for k in ("scope", "results", "summary", "source")} == {
                k: body.get(k) for k in ("scope", "results", "summary", "source")
            }
    finally:
        cluster.kubectl("delete", f"{api.cluster.plural}.{api.group}", cluster_report["metadata"]["name"], check=False)


@pytest.mark.parametrize("api", REPORT_APIS, ids=[api.name for api in REPORT_APIS])
def test_a_result_value_outside_the_published_enum_is_refused(
    cluster: ClusterClient, report_crds: None, namespace: str, api: ReportAPI
) -> None:
    """The schemas are the real ones: the API server would refuse a severity or result they do not know."""
    (body, *_) = workload_reports(audit(sample_pods(), sample_context()), api, seconds=0).values()
    bad = by_hand(body, namespace)
    bad["results"][0]["severity"] = "severe"
    refused = cluster.kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert "severity" in refused.stderr


def test_the_operator_reports_per_workload_and_moves_to_openreports_once_served(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str
) -> None:
    uninstall(cluster, OPENREPORTS)  # only wgpolicyk8s.io is served at first
    install(cluster, WGPOLICYK8S)
    name = f"{namespace}-ep"
    apply(
        cluster,
        endpoint(name),
        policy(f"{namespace}-p", namespace, enforcement="Warn", unmanaged="Warn"),
        workload("chat", namespace, name),
    )
    wait_ready(cluster, namespace)
    chat = deployment("chat-api", namespace)
    chat["spec"]["replicas"] = 2
    apply(cluster, chat, pod("lonely", namespace, env=DIRECT))
    try:

        def written(api: ReportAPI) -> dict[str, dict[str, Any]]:
            reports = managed(cluster, api, namespace)
            ours = reports.get("modelroute-deployment-chat-api")
            counted = ours and any(r["properties"].get("pods") == "2" for r in ours["results"])
            return reports if counted and "modelroute-pod-lonely" in reports else {}

        reports = eventually(lambda: written(WGPOLICYK8S), "a PolicyReport per workload", timeout=60)
        chat_api, lonely = reports["modelroute-deployment-chat-api"], reports["modelroute-pod-lonely"]
        assert chat_api["scope"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "chat-api",
            "namespace": namespace,
        }
        replica_sets = get(cluster, "replicasets", "-n", namespace, "-l", "app=chat")["items"]
        assert [o["uid"] for o in chat_api["metadata"]["ownerReferences"]] == [
            rs["metadata"]["uid"] for rs in replica_sets
        ]
        assert chat_api["summary"] == {"pass": 4, "fail": 0, "warn": 0, "error": 0, "skip": 0}
        assert {(r["rule"], r["category"], r["severity"]) for r in chat_api["results"]} == {
            ("approved-route", "Approved routes", "high"),
            ("declared-workload", "Workload declaration", "medium"),
            ("procurement", "Procurement", "medium"),
            ("visible-configuration", "Configuration visibility", "low"),
        }
        assert lonely["scope"]["kind"] == "Pod"
        (route,) = [r for r in lonely["results"] if r["rule"] == "approved-route"]
        assert route["result"] == "warn"
        assert route["message"].startswith(f"[{Code.ENDPOINT_NOT_APPROVED}]")

        approval = f"modelroute-azureendpoint-{name}"
        cluster_report = eventually(lambda: stored(cluster, WGPOLICYK8S.cluster, approval), "the endpoint's report")
        uid = get(cluster, "aze", name)["metadata"]["uid"]
        assert cluster_report["scope"] == {
            "apiVersion": "modelroute.io/v1alpha1",
            "kind": "AzureEndpoint",
            "name": name,
            "uid": uid,
        }
        assert [(r["rule"], r["result"]) for r in cluster_report["results"]] == [("approved-endpoint", "pass")]

        install(cluster, OPENREPORTS)  # now both are served: auto writes openreports.io only
        moved = eventually(lambda: written(OPENREPORTS), "the reports in openreports.io", timeout=60)
        assert moved["modelroute-deployment-chat-api"]["source"] == "ModelRoute"
        eventually(lambda: not managed(cluster, WGPOLICYK8S, namespace), "the PolicyReports removed", timeout=60)
        eventually(lambda: stored(cluster, OPENREPORTS.cluster, approval), "the endpoint's ClusterReport", timeout=60)
        eventually(
            lambda: cluster.kubectl("get", "clusterpolicyreports", approval, check=False).returncode != 0,
            "the ClusterPolicyReport removed",
            timeout=60,
        )

        cluster.kubectl("delete", "deployment", "chat-api", "-n", namespace)
        eventually(
            lambda: "modelroute-deployment-chat-api" not in managed(cluster, OPENREPORTS, namespace),
            "the Deployment's report gone with it",
            timeout=60,
        )
    finally:
        cluster.kubectl("delete", "aze", name, "--wait=false", check=False)
        cluster.kubectl("delete", "rp", f"{namespace}-p", "--wait=false", check=False)
