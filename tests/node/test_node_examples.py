"""`kubectl apply` of examples/ on the real node: the webhooks served by the operator pods reach the same
verdicts as `modelroute check examples/`, and what they admit actually runs, with the injected env.

The examples name images from registries this machine never contacts, so every container runs the
local busybox image (imagePullPolicy Never) and sleeps; only image, pull policy, command and args
change, and the offline check gives the same verdicts for the changed copies as for the originals.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from node_kit import Node
from tests.harness.client import apply, eventually, get

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CLI = str(Path(sys.executable).parent / "modelroute")
Verdicts = dict[tuple[str, str, str], bool]
# What the examples' admitted pods are expected to see in their environment (injected by ModelRoute).
INJECTED = {"chat": "OPENAI_BASE_URL", "web": "OPENAI_BASE_URL"}


def _check(directory: Path) -> Verdicts:
    result = subprocess.run(
        [CLI, "check", str(directory), "-o", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    return {(r["kind"], r["namespace"], r["name"]): r["allowed"] for r in json.loads(result.stdout)["results"]}


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc["kind"]
    if kind == "Pod":
        return [doc["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def _runnable(doc: dict[str, Any], busybox: str) -> dict[str, Any]:
    for spec in _pod_specs(doc):
        spec["terminationGracePeriodSeconds"] = 1
        for container in spec.get("initContainers", []) + spec["containers"]:
            container["image"] = busybox
            container["imagePullPolicy"] = "Never"
            container["command"] = ["sleep", "3600"]
            container.pop("args", None)
    return doc


@pytest.fixture(scope="module")
def runnable_examples(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs = [_runnable(d, node.image("busybox")) for d in yaml.safe_load_all(path.read_text()) if d]
        (out / path.name).write_text(yaml.safe_dump_all(docs))
    return out


def test_running_the_examples_on_local_images_keeps_the_offline_verdicts(runnable_examples: Path) -> None:
    assert _check(runnable_examples) == _check(EXAMPLES)


def test_the_operator_pods_admit_and_deny_what_the_offline_check_does_and_admitted_pods_run_with_the_injected_env(
    node: Node, release: str, runnable_examples: Path
) -> None:
    expected = _check(EXAMPLES)
    docs = [d for p in sorted(runnable_examples.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Namespace":
            apply(node.kube, doc)
    # The keys the ModelWorkloads inject by reference must exist for their pods to start.
    for doc in docs:
        ref = doc["spec"].get("inject", {}).get("credentialsSecretRef") if doc["kind"] == "ModelWorkload" else None
        if ref:
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ref["name"], "namespace": doc["metadata"]["namespace"]},
                "stringData": {ref["key"]: "not-a-real-key"},
            }
            apply(node.kube, secret)

    admitted: Verdicts = {}
    lines = []
    for doc in docs:
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        want = expected.get(key)
        # The operator's view must have caught up with the policy objects applied before.
        result = eventually(functools.partial(_apply_settled, node, doc, want), f"verdict for {key}", 60)
        admitted[key] = result.returncode == 0
        if key in expected:
            verdict = "admitted" if admitted[key] else "denied: " + result.stderr.strip().splitlines()[-1][:160]
            lines.append(f"{'/'.join(key)}: {verdict}")
    print("\nverdicts on the node:", *lines, sep="\n  ")
    judged = {key: admitted[key] for key in expected}
    assert judged == expected

    by_key = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}
    workloads = [k for k, ok in judged.items() if ok and k[0] in ("Deployment", "Pod")]
    for kind, namespace, name in workloads:
        doc = by_key[(kind, namespace, name)]
        labels = doc["metadata"]["labels"] if kind == "Pod" else doc["spec"]["selector"]["matchLabels"]
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        pods = eventually(
            functools.partial(_running_pods, node, namespace, selector), f"{kind} {namespace}/{name} running", 180
        )
        env = _process_env(node, namespace, pods[0])
        injected = sorted(k for k in env if "OPENAI" in k or "AZURE" in k)
        print(f"  {kind} {namespace}/{name}: {len(pods)} Running; env seen by the process: {injected}")
        if namespace in INJECTED and name != "static-site":
            assert INJECTED[namespace] in env
            assert env[INJECTED[namespace]].startswith("https://")
    chat = _process_env(node, "chat", _running_pods(node, "chat", "app=chat-api")[0])
    print(f"  chat-api's process sees OPENAI_BASE_URL={chat.get('OPENAI_BASE_URL')}")
    assert chat["OPENAI_BASE_URL"].startswith("https://contoso-eastus.openai.azure.com")


def _apply_settled(node: Node, doc: dict[str, Any], expected: bool | None) -> Any:
    result = node.kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
    if expected is None or (result.returncode == 0) == expected:
        return result
    return None


def _running_pods(node: Node, namespace: str, selector: str) -> list[str]:
    pods = get(node.kube, "pods", "-n", namespace, "-l", selector)["items"]
    running = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
    return running if running and len(running) == len(pods) else []


def _process_env(node: Node, namespace: str, pod: str) -> dict[str, str]:
    """The environment of the container's main process, read from inside the container."""
    out = node.kube.kubectl("exec", "-n", namespace, pod, "--", "cat", "/proc/1/environ").stdout
    pairs = (item.partition("=") for item in out.split("\0") if item)
    return {k: v for k, _, v in pairs}
