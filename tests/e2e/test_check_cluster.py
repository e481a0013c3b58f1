"""`modelroute check --cluster` on the real control plane: the policy context lives in the cluster, the
manifests on disk, and the CLI's verdicts are the webhooks' own answers to a server-side dry-run create."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.client import ClusterClient, apply, eventually
from tests.harness.operator import OPERATOR_NAMESPACE, OperatorProcess

from modelroute.engine.podspec import POD_TEMPLATE_PATHS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(Path(sys.executable).parent / "modelroute")
READER_ROLE = ROOT / "docs" / "rbac" / "check-cluster-reader.yaml"
#: the judged manifests get new names, so a dry-run create never meets an object an earlier test applied
SUFFIX = "-dry"

Key = tuple[str, str, str]


def _examples() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """examples/ split into the policy context (applied to the cluster) and what is judged (kept on disk)."""
    context, judged = [], []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
            if doc["kind"] in POD_TEMPLATE_PATHS:
                doc["metadata"]["name"] += SUFFIX
                judged.append(doc)
            else:
                context.append(doc)
    return context, judged


def _key(doc: dict[str, Any]) -> Key:
    return doc["kind"], doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]


def _check(path: Path, *args: str) -> dict[Key, dict[str, Any]]:
    result = subprocess.run(
        [SCRIPT, "check", str(path), "-o", "json", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return {(r["kind"], r["namespace"], r["name"]): r for r in json.loads(result.stdout)["results"]}


_DENIED_CODE = re.compile(r"^- \[(\w+)\]", re.MULTILINE)


def _webhook(cluster: ClusterClient, doc: dict[str, Any]) -> tuple[bool, set[str]]:
    """The admission answer to creating `doc` (server-side dry run: admitted or denied, nothing stored),
    and the violation codes of a denial."""
    result = cluster.kubectl(
        "create", "--dry-run=server", "-o", "name", "-f", "-", input=yaml.safe_dump(doc), check=False
    )
    if result.returncode == 0:
        return True, set()
    assert "denied the request" in result.stderr, result.stderr  # an admission answer, not another failure
    return False, set(_DENIED_CODE.findall(result.stderr))


@pytest.fixture
def examples_context(cluster: ClusterClient, operator: OperatorProcess) -> list[dict[str, Any]]:
    """The examples' policy context applied to the cluster, and the webhook caught up with it."""
    context, judged = _examples()
    apply(cluster, *context)
    legacy = next(d for d in judged if d["metadata"]["name"] == "legacy-bot" + SUFFIX)
    eventually(lambda: not _webhook(cluster, legacy)[0], "the webhook enforces the production policy", timeout=60)
    return judged


def test_check_cluster_agrees_with_the_webhooks_on_every_example(
    cluster: ClusterClient, examples_context: list[dict[str, Any]], tmp_path: Path
) -> None:
    judged = examples_context
    manifests = tmp_path / "judged.yaml"
    manifests.write_text(yaml.safe_dump_all(judged))

    offline = _check(manifests, "--cluster", "--kubeconfig", str(cluster.kubeconfig))
    admission = {_key(doc): _webhook(cluster, doc) for doc in judged}

    assert set(offline) == set(admission)
    assert {k: r["allowed"] for k, r in offline.items()} == {k: a[0] for k, a in admission.items()}
    for key, (allowed, codes) in admission.items():
        if not allowed:
            assert {v["code"] for v in offline[key]["violations"]} == codes, key
    assert sum(not a[0] for a in admission.values()) == 4
    # rag-worker reads its endpoint from a ConfigMap that exists only in the cluster
    assert offline[("Deployment", "rag", "rag-worker" + SUFFIX)]["decision"] == "compliant"
    # without the cluster the same files meet only the built-in policy, which denies nothing
    alone = _check(manifests)
    assert all(r["allowed"] for r in alone.values())


def test_a_local_policy_object_replaces_the_clusters_of_the_same_name(
    cluster: ClusterClient, examples_context: list[dict[str, Any]], tmp_path: Path
) -> None:
    legacy = next(d for d in examples_context if d["metadata"]["name"] == "legacy-bot" + SUFFIX)
    production = next(d for d in _examples()[0] if d["kind"] == "RoutePolicy" and d["metadata"]["name"] == "production")
    softened = {**production, "spec": {**production["spec"], "enforcement": "Warn"}}
    manifests = tmp_path / "change.yaml"
    manifests.write_text(yaml.safe_dump_all([softened, legacy]))

    result = _check(manifests, "--cluster", "--kubeconfig", str(cluster.kubeconfig))[_key(legacy)]
    assert (result["allowed"], result["decision"]) == (True, "warned")
    assert not _webhook(cluster, legacy)[0]  # the cluster itself is untouched: still Enforce


def test_the_documented_read_only_role_is_all_check_cluster_needs(
    cluster: ClusterClient, examples_context: list[dict[str, Any]], tmp_path: Path
) -> None:
    account = "modelroute-check"
    cluster.kubectl("apply", "-f", str(READER_ROLE))
    cluster.kubectl("create", "serviceaccount", account, "-n", OPERATOR_NAMESPACE, check=False)
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        account,
        "--clusterrole=modelroute-check-cluster-reader",
        f"--serviceaccount={OPERATOR_NAMESPACE}:{account}",
        check=False,
    )
    token = cluster.kubectl("create", "token", account, "-n", OPERATOR_NAMESPACE).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    kubeconfig = tmp_path / "reader.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    def can(verb: str, resource: str) -> bool:
        args = ("auth", "can-i", verb, resource, "--all-namespaces")
        return (
            cluster.kubectl(*args, f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{account}", check=False).returncode
            == 0
        )

    assert not can("get", "secrets")
    assert not can("create", "routepolicies.modelroute.io")
    manifests = tmp_path / "judged.yaml"
    manifests.write_text(yaml.safe_dump_all(examples_context))
    as_reader = _check(manifests, "--cluster", "--kubeconfig", str(kubeconfig))
    as_admin = _check(manifests, "--cluster", "--kubeconfig", str(cluster.kubeconfig))
    assert {k: r["allowed"] for k, r in as_reader.items()} == {k: r["allowed"] for k, r in as_admin.items()}

    # report lists every ConfigMap and Pod, which this role does not grant: exit 2 saying so, not a traceback
    report = subprocess.run(
        [SCRIPT, "report", "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, timeout=60, check=False
    )
    assert report.returncode == 2, report.stderr
    assert "refused to list configmaps (forbidden)" in report.stderr


def _report(*args: str) -> dict[tuple[str, str], dict[str, Any]]:
    result = subprocess.run(
        [SCRIPT, "report", "-o", "json", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return {(r["namespace"], r["workload"]): r for r in json.loads(result.stdout)["workloads"]}


def test_report_from_manifests_counts_the_pods_the_controllers_really_create(
    cluster: ClusterClient, examples_context: list[dict[str, Any]]
) -> None:
    """examples/ applied for real: kube-controller-manager creates the pods of what admission lets in, and
    the cluster's report counts them as `report --from` predicted from the files."""
    predicted = _report("--from", str(ROOT / "examples"))
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        cluster.kubectl("apply", "-f", str(path), check=False)  # the refused objects fail, as they must
    rows = [key for key, row in predicted.items() if row["pods"]]
    assert predicted[("rag", "rag-worker")]["pods"] == 2  # a Deployment with replicas: 2

    def counted() -> bool:
        running = _report("--kubeconfig", str(cluster.kubeconfig))
        return all(running.get(key, {}).get("pods") == predicted[key]["pods"] for key in rows)

    eventually(counted, "the cluster's pods are the ones report --from predicted", timeout=90)
