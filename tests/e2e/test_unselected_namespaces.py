"""A ModelWorkload always means what it says, on a real control plane: an Enforce RoutePolicy for one
namespace leaves every namespace it does not select under the built-in default, so covered pods there
are still injected, annotated and counted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kube import pod
from test_operator import AZURE_URL, endpoint, policy, wait_ready, workload
from tests.harness.client import ClusterClient, apply, eventually, get
from tests.harness.operator import OperatorProcess

DIRECT = {"OPENAI_BASE_URL": "https://api.openai.com/v1"}
COVERED_PODS = 5


@pytest.fixture
def unselected(cluster: ClusterClient, namespace: str) -> Iterator[str]:
    """A second fresh namespace, which the test's RoutePolicy does not select."""
    name = f"{namespace}-b"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def test_an_enforce_policy_for_one_namespace_leaves_the_built_in_default_in_the_others(
    cluster: ClusterClient, operator: OperatorProcess, namespace: str, unselected: str
) -> None:
    endpoint_name, policy_name = f"{namespace}-aoai", f"{namespace}-production"
    apply(
        cluster,
        endpoint(endpoint_name),
        policy(policy_name, namespace, enforcement="Enforce"),
        workload("chat", unselected, endpoint_name),
    )
    try:
        wait_ready(cluster, unselected)
        # the policy bites where it is written for
        refused = eventually(
            lambda: (
                (r := apply(cluster, pod("direct", namespace, app="nobody", env=DIRECT), check=False)).returncode and r
            ),
            "the Enforce policy refusing an unmanaged pod in its namespace",
        )
        assert "UnmanagedOpenAITraffic" in refused.stderr

        for index in range(COVERED_PODS):
            apply(cluster, pod(f"chat-{index}", unselected))
        for index in range(COVERED_PODS):
            admitted = get(cluster, "pod", f"chat-{index}", "-n", unselected)
            annotations = admitted["metadata"].get("annotations") or {}
            assert annotations.get("modelroute.io/workload") == "chat", annotations
            assert annotations.get("modelroute.io/procurement-channel") == "Microsoft", annotations
            assert annotations.get("modelroute.io/endpoint") == endpoint_name, annotations
            assert annotations.get("modelroute.io/decision") == "compliant", annotations
            env = {e["name"]: e.get("value") for e in admitted["spec"]["containers"][0].get("env") or []}
            assert env.get("OPENAI_BASE_URL") == AZURE_URL + "/openai/v1", env

        # the built-in default warns; it does not deny
        warned = apply(cluster, pod("off-route", unselected, env=DIRECT))
        assert "Warning: [EndpointNotApproved]" in warned.stderr
        assert (
            get(cluster, "pod", "off-route", "-n", unselected)["metadata"]["annotations"]["modelroute.io/decision"]
            == "warned"
        )

        # and the inventory counts them
        counts = eventually(
            lambda: (
                (c := get(cluster, "mw", "chat", "-n", unselected)["status"].get("pods"))
                and c["matched"] == COVERED_PODS + 1
                and c
            ),
            "the audit counting the covered pods",
            timeout=60,
        )
        assert counts == {"matched": COVERED_PODS + 1, "compliant": COVERED_PODS, "violating": 1}
    finally:
        cluster.kubectl("delete", "routepolicy", policy_name, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "azureendpoint", endpoint_name, "--ignore-not-found", check=False)
