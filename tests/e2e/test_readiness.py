"""Ready means enforced: the moment the operator says it is ready, a new pod is judged and its modelroute.io/
annotations cannot be changed. The API server loads webhook configurations and ValidatingAdmissionPolicies
some time after they are written; readiness must not run ahead of it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from kube import pod
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.config import new_client_from_config
from test_operator import endpoint, policy, workload
from tests.harness.client import ClusterClient, apply, eventually
from tests.harness.operator import CONFIGURATION_NAME, OperatorProcess, answers_ready

READINESS_CONFIGURATION = "modelroute-readiness"


class ReadyzOperator(OperatorProcess):
    """Local mode under its own configuration names, ready when its /readyz says so (what a kubelet reads)."""

    def arguments(self) -> list[str]:
        args = super().arguments()
        args[args.index(CONFIGURATION_NAME)] = READINESS_CONFIGURATION
        return args

    poll_seconds = 0.02  # a test of the moment readiness is reported must see that moment

    def ready(self) -> bool:
        return answers_ready(self.metrics_port)


FORGED_CHANNEL = {"metadata": {"annotations": {"modelroute.io/procurement-channel": "OpenAI"}}}
REMOVE_EVERY_ANNOTATION = [{"op": "remove", "path": "/metadata/annotations"}]
FORGED_DECISION = {"metadata": {"annotations": {"modelroute.io/decision": "forged"}}}


def changes(core: client.CoreV1Api, name: str, namespace: str) -> list[tuple[str, Callable[[], object]]]:
    """The writes that changed a fresh pod's annotations right after readiness, before readiness waited for
    the guard: what `kubectl annotate --overwrite`, a JSON patch and a pods/status merge patch send."""
    merge = {"_content_type": "application/merge-patch+json"}
    return [
        ("annotate --overwrite", lambda: core.patch_namespaced_pod(name, namespace, FORGED_CHANNEL, **merge)),
        (
            "JSON patch removing every annotation",
            lambda: core.patch_namespaced_pod(
                name, namespace, REMOVE_EVERY_ANNOTATION, _content_type="application/json-patch+json"
            ),
        ),
        (
            "pods/status merge patch",
            lambda: core.patch_namespaced_pod_status(name, namespace, FORGED_DECISION, **merge),
        ),
    ]


def refusal(write: Callable[[], object]) -> str | None:
    """The API server's message when it refused the write; None when the write went through."""
    try:
        write()
    except ApiException as error:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    return None


def test_right_after_ready_a_new_pod_is_judged_and_its_annotations_cannot_be_changed(
    cluster: ClusterClient, operator_process: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    # this test's operator alone may judge and guard: the session's would hide the window
    operator_process.stop()
    # a policy of its own: RoutePolicies that earlier tests left would otherwise leave this namespace ungoverned
    apply(
        cluster,
        endpoint(f"{namespace}-aoai"),
        policy(f"{namespace}-policy", namespace, enforcement="Enforce"),
        workload("chat", namespace, f"{namespace}-aoai"),
    )
    canary = pod("canary", namespace, app="nobody")
    canary["metadata"]["annotations"] = {"modelroute.io/decision": "before"}
    eventually(lambda: apply(cluster, canary), "a pod admitted with no webhook configured")
    eventually(
        lambda: cluster.kubectl(
            "annotate", "pod", "canary", "-n", namespace, "--overwrite", "modelroute.io/decision=unguarded"
        ),
        "no annotation guard in force before the operator starts",
    )
    core = client.CoreV1Api(new_client_from_config(config_file=str(cluster.kubeconfig)))

    process = ReadyzOperator(cluster, tmp_path)
    process.start()
    try:
        # at once, as a controller that was waiting for ModelRoute would
        admitted = core.create_namespaced_pod(namespace, pod("fresh", namespace)).metadata.annotations or {}
        refused = {what: refusal(write) for what, write in changes(core, "fresh", namespace)}
        assert admitted.get("modelroute.io/procurement-channel") == "Microsoft", admitted
        assert admitted.get("modelroute.io/workload") == "chat", admitted
        for what, message in refused.items():
            assert message is not None, f"{what} changed the annotations of a pod admitted right after ready"
            assert "cannot be changed afterwards" in message, message
        assert core.read_namespaced_pod("fresh", namespace).metadata.annotations == admitted
    finally:
        process.stop()
        cluster.kubectl("delete", "routepolicy", f"{namespace}-policy", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "azureendpoint", f"{namespace}-aoai", "--ignore-not-found", check=False)


@pytest.mark.parametrize("guarded", [False, True], ids=["no-operator", "operator-ready"])
def test_modelroute_verify_says_what_is_not_in_force(
    cluster: ClusterClient, operator_process: OperatorProcess, guarded: bool
) -> None:
    if guarded:
        if not operator_process.alive:
            operator_process.start()
    else:
        operator_process.stop()
    guard = f"{CONFIGURATION_NAME}-annotations"
    args = ["verify", "--kubeconfig", str(cluster.kubeconfig), "--annotation-guard", guard]
    if guarded:
        result = modelroute(*args, "--timeout", "30")
        assert result.returncode == 0, result.stderr
        assert f"in force: the webhooks, the annotation guard {guard}" in result.stdout
    else:
        result = eventually(
            lambda: (
                (r := modelroute(*args)).returncode == 1 and "pod in namespace default was admitted" in r.stderr and r
            ),
            "modelroute verify failing once the operator is gone",
        )
        assert f"not in force: the annotation guard {guard}" in result.stderr


def modelroute(*args: str) -> subprocess.CompletedProcess[str]:
    import subprocess

    command = [str(Path(sys.executable).parent / "modelroute"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
