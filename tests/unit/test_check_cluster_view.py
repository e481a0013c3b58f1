"""`check --cluster`: what is read from the cluster and how the input's policy objects combine with it.
The cluster itself is in tests/e2e/test_check_cluster.py; here a stand-in reader records what is asked."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from test_cli import EXAMPLES, modelroute, write

from modelroute.cli.check import run_check
from modelroute.cli.live import CLUSTER_CONTEXT_PLURALS, ClusterContext, config_map_references, merged
from modelroute.cli.manifests import Document

ENDPOINT = {
    "apiVersion": "modelroute.io/v1alpha1",
    "kind": "AzureEndpoint",
    "metadata": {"name": "approved"},
    "spec": {"url": "https://contoso.openai.azure.com"},
}
ENFORCE = {
    "apiVersion": "modelroute.io/v1alpha1",
    "kind": "RoutePolicy",
    "metadata": {"name": "strict"},
    "spec": {"enforcement": "Enforce", "unmanaged": "Deny"},
}
WORKLOAD = {
    "apiVersion": "modelroute.io/v1alpha1",
    "kind": "ModelWorkload",
    "metadata": {"name": "chat", "namespace": "apps"},
    "spec": {
        "selector": {"matchLabels": {"app": "chat"}},
        "endpointRef": {"name": "approved"},
        "procurement": {"channel": "Microsoft"},
    },
}


def pod(name: str, app: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "app:1", **container}], **spec},
    }


FROM_CONFIG_MAP = pod("configured", "other", {"envFrom": [{"configMapRef": {"name": "settings"}}]})


class StandIn:
    """A cluster that answers from dicts and records every read."""

    def __init__(self, objects: list[dict[str, Any]], config_maps: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects, self.config_maps, self.reads = objects, config_maps, []

    def list_all(self, plural: str) -> list[dict[str, Any]]:
        self.reads.append(plural)
        kind = {"azureendpoints": "AzureEndpoint", "modelworkloads": "ModelWorkload", "routepolicies": "RoutePolicy"}
        return [o for o in self.objects if o["kind"] == kind.get(plural, "Namespace")]

    def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(f"configmap {namespace}/{name}")
        return self.config_maps.get((namespace, name))


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"}, "data": data}


def check(tmp_path: Path, cluster: StandIn, *objects: dict[str, Any]) -> dict[str, Any]:
    path = write(tmp_path, "input.yaml", "\n---\n".join(json.dumps(o) for o in objects))
    out = io.StringIO()
    run_check([str(path)], "json", "default", "modelroute-system", out, 1, ClusterContext(cluster))
    return {r["name"]: r for r in json.loads(out.getvalue())["results"]}


def test_the_cluster_policy_decides_what_the_input_alone_would_admit(tmp_path: Path) -> None:
    direct = pod("direct", "other", {"env": [{"name": "OPENAI_API_KEY", "value": "k"}]})
    cluster = StandIn([ENDPOINT, ENFORCE, WORKLOAD], {})
    assert check(tmp_path, cluster, direct)["direct"]["allowed"] is False
    assert check(tmp_path, StandIn([], {}), direct)["direct"]["allowed"] is True  # the built-in policy warns


def test_only_the_context_kinds_and_the_referenced_config_maps_are_read(tmp_path: Path) -> None:
    cluster = StandIn([ENDPOINT, ENFORCE], {("apps", "settings"): config_map("settings", {"X": "1"})})
    check(tmp_path, cluster, FROM_CONFIG_MAP)
    assert cluster.reads == [*CLUSTER_CONTEXT_PLURALS, "configmap apps/settings"]
    assert not any("secret" in read for read in cluster.reads)


def test_a_config_map_from_the_cluster_is_read_as_the_webhook_reads_it(tmp_path: Path) -> None:
    settings = config_map("settings", {"OPENAI_BASE_URL": "https://api.openai.com/v1"})
    result = check(tmp_path, StandIn([ENDPOINT, ENFORCE], {("apps", "settings"): settings}), FROM_CONFIG_MAP)
    assert result["configured"]["allowed"] is False
    assert "UnmanagedOpenAITraffic" in {v["code"] for v in result["configured"]["violations"]}


def test_a_config_map_the_cluster_does_not_have_is_reported_unresolved(tmp_path: Path) -> None:
    workload_pod = pod("covered", "chat", {"envFrom": [{"configMapRef": {"name": "settings"}}]})
    result = check(tmp_path, StandIn([ENDPOINT, ENFORCE, WORKLOAD], {}), workload_pod)
    assert "UnresolvedReference" in {v["code"] for v in result["covered"]["violations"]}


def test_a_config_map_in_the_input_is_not_read_from_the_cluster(tmp_path: Path) -> None:
    cluster = StandIn([ENDPOINT, ENFORCE], {("apps", "settings"): config_map("settings", {"A": "b"})})
    local = config_map("settings", {"OPENAI_BASE_URL": "https://contoso.openai.azure.com"})
    check(tmp_path, cluster, local, FROM_CONFIG_MAP)
    assert "configmap apps/settings" not in cluster.reads


def test_an_input_policy_object_replaces_the_clusters_of_the_same_name(tmp_path: Path) -> None:
    direct = pod("direct", "other", {"env": [{"name": "OPENAI_API_KEY", "value": "k"}]})
    warn = {**ENFORCE, "spec": {"enforcement": "Warn", "unmanaged": "Deny"}}
    result = check(tmp_path, StandIn([ENDPOINT, ENFORCE], {}), warn, direct)
    assert result["direct"]["allowed"] is True
    assert result["direct"]["decision"] == "warned"


def test_an_input_policy_object_of_another_name_adds_to_the_clusters(tmp_path: Path) -> None:
    direct = pod("direct", "other", {"env": [{"name": "OPENAI_API_KEY", "value": "k"}]})
    lenient = {**ENFORCE, "metadata": {"name": "lenient"}, "spec": {"enforcement": "Audit", "unmanaged": "Allow"}}
    result = check(tmp_path, StandIn([ENDPOINT, ENFORCE], {}), lenient, direct)
    assert result["direct"]["allowed"] is False  # the strictest of the two still wins


def test_merging_keys_objects_by_kind_namespace_and_name() -> None:
    def doc(obj: dict[str, Any]) -> Document:
        return Document("x", "1", obj)

    other_namespace = {**WORKLOAD, "metadata": {"name": "chat", "namespace": "elsewhere"}}
    replaced = {**WORKLOAD, "spec": {**WORKLOAD["spec"], "deployment": "gpt-4o"}}
    result = merged([doc(WORKLOAD), doc(other_namespace), doc(ENDPOINT)], [doc(replaced)], "default")
    assert [d.obj for d in result] == [replaced, other_namespace, ENDPOINT]


def test_config_map_references_are_found_in_env_env_from_and_volumes() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"namespace": "apps"},
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "a"}}}]}],
                    "containers": [{"envFrom": [{"configMapRef": {"name": "b"}}, {"secretRef": {"name": "s"}}]}],
                    "volumes": [
                        {"configMap": {"name": "c"}},
                        {"projected": {"sources": [{"configMap": {"name": "d"}}, {"secret": {"name": "t"}}]}},
                    ],
                }
            }
        },
    }
    assert list(config_map_references(deployment, "default")) == [("apps", n) for n in "abcd"]


def test_kubeconfig_without_cluster_is_a_usage_error() -> None:
    result = modelroute("check", str(EXAMPLES), "--kubeconfig", "/dev/null")
    assert result.returncode == 2
    assert "need --cluster" in result.stderr


def test_check_cluster_without_a_reachable_cluster_is_exit_2_with_what_to_do(tmp_path: Path) -> None:
    result = modelroute("check", str(EXAMPLES), "--cluster", "--kubeconfig", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "internal error" not in result.stderr
    assert "--kubeconfig" in result.stderr


def test_an_invalid_cluster_object_is_left_out_as_the_webhook_leaves_it_out(tmp_path: Path) -> None:
    broken = {**WORKLOAD, "metadata": {"name": "broken", "namespace": "apps"}, "spec": {"selector": {}}}
    covered = pod("covered", "chat", {})
    path = write(tmp_path, "input.yaml", json.dumps(covered))
    out, notes = io.StringIO(), io.StringIO()
    code = run_check(
        [str(path)], "json", "default", None, out, 1, ClusterContext(StandIn([ENDPOINT, WORKLOAD, broken], {}), notes)
    )
    assert code == 0
    (result,) = json.loads(out.getvalue())["results"]
    assert result["workload"] == "chat"
    assert "the cluster's ModelWorkload apps/broken is invalid and left out" in notes.getvalue()
